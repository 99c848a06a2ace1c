"""The template's own CI workflow: pinned, least-privilege, lint clean. And
the service's image pipeline, run here with docker stood in for: both
platforms built with their attestations, one index published from their
digests, the digests recorded, nothing pushed from a pull request."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from harness import ROOT
from harness.proc import git
from harness.render import render
from harness.workflows import interpolate, problems, run_job, runs


def test_template_workflows_pass_actionlint_zizmor_and_the_schema():
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    assert problems(workflows, ROOT) == []


def test_an_action_pinned_to_a_tag_or_without_its_version_is_a_problem(tmp_path):
    git(tmp_path, "init", "--quiet")
    workflow = tmp_path / ".github" / "workflows" / "ci.yml"
    workflow.parent.mkdir(parents=True)
    checkout = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1"
    template = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert f"uses: {checkout} # v7.0.1\n" in template
    for pin, finding in (("actions/checkout@v7.0.1 # v7.0.1", "unpinned-uses"),
                         (checkout, f"uses: {checkout}")):  # fmt: skip
        workflow.write_text(template.replace(f"{checkout} # v7.0.1", pin))
        assert any(finding in line for line in problems([workflow], tmp_path)), pin


def test_template_ci_runs_ci_run_with_a_concurrency_group():
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert ci["permissions"] == {"contents": "read"}
    assert "group" in ci["concurrency"]
    steps = ci["jobs"]["test"]["steps"]
    assert any("bash .ci/run" in step.get("run", "") for step in steps)


# --- The service's production image: linux/amd64 and linux/arm64 -----------
# The image and publish jobs are the same in every render (no answer changes
# them), so one default render stands for all.

EVENTS = {
    "pull request": ("pull_request", "refs/pull/7/merge", "branch", "7/merge"),
    "push to a branch": ("push", "refs/heads/feature", "branch", "feature"),
    "push to main": ("push", "refs/heads/main", "branch", "main"),
    "release tag": ("push", "refs/tags/1.2.0", "tag", "1.2.0"),
}
PUBLISHED = ("push to main", "release tag")
NATIVE = {"linux/amd64": ("ubuntu-24.04", "X64"), "linux/arm64": ("ubuntu-24.04-arm", "ARM64")}
SHA = "0123456789abcdef0123456789abcdef01234567"
# What each platform's build reports: the digest of its index (image, SBOM, provenance).
PUSHED = {"amd64": "sha256:" + "a" * 64, "arm64": "sha256:" + "b" * 64}


@pytest.fixture(scope="module")
def service(source, tmp_path_factory) -> Path:
    return render(tmp_path_factory.mktemp("image") / "service", src=source, vcs_ref=None)


@pytest.fixture(scope="module")
def ci(service) -> dict:
    return yaml.safe_load((service / ".github/workflows/ci.yml").read_text())


@pytest.fixture
def stand_ins(tmp_path) -> Path:
    """A folder for $PATH with a `docker` that records each call (one file of
    NUL-separated arguments per call in $DOCKER_CALLS) and answers
    `imagetools inspect` with $DOCKER_INSPECT's content, and `imagetools
    create --dry-run` with it and a newline, as buildx prints the index it
    would push; and the real jq, which GitHub's runners have."""
    if shutil.which("jq") is None:
        pytest.fail("jq is needed to run the publish job's steps (GitHub's runners have it)")
    folder = tmp_path / "bin"
    folder.mkdir()
    docker = folder / "docker"
    docker.write_text(
        "#!/usr/bin/env bash\n"
        'printf "%s\\0" "$@" > "$DOCKER_CALLS/$(ls "$DOCKER_CALLS" | wc -l)"\n'
        'if [ "$2 $3" = "imagetools inspect" ]; then cat "$DOCKER_INSPECT"; fi\n'
        'if [ "$2 $3 $4" = "imagetools create --dry-run" ]; then cat "$DOCKER_INSPECT"; echo; fi\n'
    )
    docker.chmod(0o755)
    return folder


def contexts(event: str, **more) -> dict:
    """The contexts of a run for ``event`` (a key of EVENTS) in Owner/Service,
    whose default branch is main."""
    name, ref, ref_type, ref_name = EVENTS[event]
    github = {"event_name": name, "ref": ref, "ref_type": ref_type, "ref_name": ref_name,
              "sha": SHA, "repository": "Owner/Service", "actor": "someone",
              "event": {"repository": {"default_branch": "main"}}}  # fmt: skip
    return {"github": github, "vars": {}, "secrets": {"GITHUB_TOKEN": "token"}, **more}


def legs(ci: dict, variables: dict | None = None) -> list[dict]:
    """The image job's matrix, one mapping per job it makes, as GitHub expands it."""
    strategy = ci["jobs"]["image"]["strategy"]
    assert set(strategy["matrix"]) == {"include"}, "legs are listed whole, one per platform"
    run = contexts("push to main", vars=variables or {})
    return interpolate(strategy["matrix"]["include"], run)


def using(job: dict, action: str) -> list[dict]:
    """The steps of ``job`` that use ``action`` (owner/name)."""
    return [step for step in job["steps"] if step.get("uses", "").startswith(f"{action}@")]


def build_step(job: dict) -> dict:
    """The image job's one build, which every platform's job runs."""
    (build,) = using(job, "docker/build-push-action")
    return build


def meta_outputs() -> dict:
    """What docker/metadata-action gives for release 1.2.0 of Owner/Service."""
    tags = [f"ghcr.io/owner/service:{SHA}", "ghcr.io/owner/service:1.2.0"]
    annotations = [
        "index:org.opencontainers.image.description=Notes, with a description",
        "index:org.opencontainers.image.source=https://github.com/Owner/Service",
    ]
    return {
        "tags": "\n".join(tags),
        "annotations": "\n".join(annotations),
        "labels": "",
        "json": json.dumps({"tags": tags, "annotations": annotations, "labels": {}}),
    }


def published_index(attested=("amd64", "arm64")) -> dict:
    """The index made from PUSHED, as the registry holds it (`imagetools
    inspect --raw`): each platform's image manifest and, for those in
    ``attested``, the attestation manifest (SBOM and provenance) that refers
    to it."""
    manifest = "application/vnd.oci.image.manifest.v1+json"
    manifests = []
    for arch, image, attestation in (("amd64", "c", "d"), ("arm64", "e", "f")):
        platform = {"architecture": arch, "os": "linux"}
        manifests.append({"mediaType": manifest, "digest": "sha256:" + image * 64, "size": 1000,
                          "platform": platform})  # fmt: skip
        if arch in attested:
            refers = {"vnd.docker.reference.digest": "sha256:" + image * 64,
                      "vnd.docker.reference.type": "attestation-manifest"}  # fmt: skip
            unknown = {"architecture": "unknown", "os": "unknown"}
            manifests.append({"mediaType": manifest, "digest": "sha256:" + attestation * 64,
                              "size": 800, "annotations": refers, "platform": unknown})  # fmt: skip
    return {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests}  # fmt: skip


def publish(ci, tmp_path, stand_ins, event="release tag", arches=("amd64", "arm64"), index=None):
    """Run the image job for each platform in ``arches`` (build and push
    stood in for, as PUSHED), then the publish job, with `docker` stood in for
    and answering `imagetools inspect` with ``index``; return both jobs' runs
    (the image jobs' by arch, the publish job's as "publish"), docker's calls
    (each a list of arguments) and the artifacts uploaded (name to folder)."""
    artifacts: dict[str, Path] = {}
    calls = tmp_path / "calls"
    calls.mkdir(parents=True)
    inspect = tmp_path / "index.json"
    inspect.write_text(json.dumps(index or published_index()))
    environ = {"DOCKER_CALLS": str(calls), "DOCKER_INSPECT": str(inspect)}
    runs_ = {}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        for leg in legs(ci):
            if leg["arch"] not in arches:
                continue
            actions = {"meta": meta_outputs(), "build": {"digest": PUSHED[leg["arch"]]}}
            run = contexts(event, matrix=leg, runner={"arch": NATIVE[leg["platform"]][1]})
            runs_[leg["arch"]] = run_job(ci["jobs"]["image"], run, tmp_path / leg["arch"],
                                         actions=actions, artifacts=artifacts,
                                         path=stand_ins)  # fmt: skip
        runs_["publish"] = run_job(ci["jobs"]["publish"], contexts(event), tmp_path / "publish",
                                   actions={"meta": meta_outputs()}, artifacts=artifacts,
                                   path=stand_ins)  # fmt: skip
    count = len(list(calls.iterdir()))
    made = [(calls / str(n)).read_text().split("\0")[:-1] for n in range(count)]
    return runs_, made, artifacts


def test_the_image_is_built_for_linux_amd64_and_linux_arm64_each_on_its_own_architecture(ci):
    """One build per platform, amd64 and arm64 and no other, each on a runner
    of that architecture (GitHub's ubuntu-24.04 and ubuntu-24.04-arm), with no
    emulation; ARM64_RUNNER moves the arm64 build to another runner, where it
    is emulated only if that runner is not arm64."""
    job = ci["jobs"]["image"]
    build = build_step(job)
    assert sorted(leg["platform"] for leg in legs(ci)) == ["linux/amd64", "linux/arm64"]
    qemu = using(job, "docker/setup-qemu-action")
    for leg in legs(ci):
        label, arch = NATIVE[leg["platform"]]
        run = contexts("push to main", matrix=leg, runner={"arch": arch})
        assert interpolate(job["runs-on"], run) == label, leg
        assert interpolate(build["with"]["platforms"], run) == leg["platform"]
        assert not any(runs(step, run) for step in qemu), f"{leg['platform']} emulated on {label}"
    (arm64,) = [leg for leg in legs(ci, {"ARM64_RUNNER": "ubuntu-24.04"}) if leg["arch"] == "arm64"]
    assert arm64["runner"] == "ubuntu-24.04"
    on_x64 = contexts("push to main", matrix=arm64, runner={"arch": "X64"})
    assert [s["with"]["platforms"] for s in qemu if runs(s, on_x64)] == ["arm64"]
    (own,) = [leg for leg in legs(ci, {"ARM64_RUNNER": "arm-8-core"}) if leg["arch"] == "arm64"]
    assert own["runner"] == "arm-8-core"


def test_every_platform_build_carries_its_sbom_and_max_provenance(ci):
    """Each platform's build, whatever the event, makes an SBOM and mode=max
    provenance attestation, into an image (a build loaded into docker would
    drop them), pushed by digest only: no tag ever names one platform."""
    job = ci["jobs"]["image"]
    build = build_step(job)
    assert "tags" not in build["with"] and "load" not in build["with"]
    assert "outputs" not in job, "a job output of a matrix names one platform's image"
    for event in EVENTS:
        for leg in legs(ci):
            run = contexts(event, matrix=leg, runner={"arch": NATIVE[leg["platform"]][1]})
            run["env"] = interpolate(job["env"], run)
            run["steps"] = {"image": {"outputs": {"name": "ghcr.io/owner/service"}}}
            assert runs(build, run), (event, leg)
            given = interpolate(build["with"], run)
            assert given["sbom"] in (True, "true"), (event, leg)
            assert given["provenance"] == "mode=max", (event, leg)
            outputs = dict(part.split("=", 1) for part in given["outputs"].split(",")[1:])
            assert given["outputs"].startswith("type=image,"), given["outputs"]
            assert outputs["push-by-digest"] == "true", (event, leg)


def test_publish_tags_one_index_made_from_every_platform_digest(ci, tmp_path, stand_ins):
    """On a release tag, each platform's pushed digest reaches the publish
    job, which makes one index of both, under every tag (and the index
    annotations GHCR shows) in one `imagetools create` (which keeps each
    platform's attestations); nothing else is pushed or tagged. It reads the
    published index back by the digest of what it pushed (the bytes a dry run
    of the same create printed), never through a tag another run may move.
    With a platform's digest missing it publishes nothing."""
    runs_, made, _ = publish(ci, tmp_path, stand_ins)
    failures = {job: run.failure for job, run in runs_.items()}
    assert failures == dict.fromkeys(["amd64", "arm64", "publish"]), failures
    create = ["buildx", "imagetools", "create"]
    creates = [call for call in made if call[:3] == create and "--dry-run" not in call]
    assert len(creates) == 1, made
    args = creates[0][3:]
    assert [call for call in made if "--dry-run" in call] == [create + ["--dry-run"] + args]
    tags = [args[i + 1] for i, arg in enumerate(args) if arg in ("--tag", "-t")]
    annotations = [args[i + 1] for i, arg in enumerate(args) if arg == "--annotation"]
    valued = ("--tag", "-t", "--annotation")
    sources = [a for i, a in enumerate(args) if not a.startswith("-") and args[i - 1] not in valued]
    assert tags == meta_outputs()["tags"].splitlines()
    assert annotations == meta_outputs()["annotations"].splitlines()
    assert sorted(sources) == sorted(f"ghcr.io/owner/service@{d}" for d in PUSHED.values())
    # Where each platform's build pushed its digest: the same (lowercase) repository.
    for arch in PUSHED:
        outputs = runs_[arch].given["build"]["outputs"].split(",")
        assert {"name=ghcr.io/owner/service", "push-by-digest=true", "push=true"} <= set(outputs)
    index = "sha256:" + hashlib.sha256(json.dumps(published_index()).encode()).hexdigest()
    reads = [call for call in made if call[:3] != create]
    assert reads == [["buildx", "imagetools", "inspect", "--raw", f"ghcr.io/owner/service@{index}"]]

    partial, made, _ = publish(ci, tmp_path / "partial", stand_ins, arches=("amd64",))
    assert partial["publish"].failure and "linux/arm64" in partial["publish"].failure
    assert made == []


def test_each_platform_digest_is_recorded_in_the_summaries_and_an_artifact(ci, tmp_path, stand_ins):
    """Each platform's build writes its digest in its job summary; publish
    records the index digest, each platform's image digest and its
    attestations' digest, as published, in its summary and in the
    image-digests artifact (image-digests.json). An index in which a
    platform or its attestations are missing fails the run."""
    runs_, _, artifacts = publish(ci, tmp_path, stand_ins)
    for arch, pushed in PUSHED.items():
        assert f"`linux/{arch}` pushed: `{pushed}`" in runs_[arch].summary
    index = published_index()
    digest = "sha256:" + hashlib.sha256(json.dumps(index).encode()).hexdigest()
    (record,) = artifacts["image-digests"].glob("*.json")
    recorded = json.loads(record.read_text())
    assert recorded["image"] == "ghcr.io/owner/service"
    assert recorded["index"] == digest
    assert recorded["tags"] == meta_outputs()["tags"].splitlines()
    assert recorded["platforms"] == {
        "linux/amd64": {"digest": "sha256:" + "c" * 64, "attestations": "sha256:" + "d" * 64},
        "linux/arm64": {"digest": "sha256:" + "e" * 64, "attestations": "sha256:" + "f" * 64},
    }
    summary = runs_["publish"].summary
    for shown in [digest] + [manifest["digest"] for manifest in index["manifests"]]:
        assert shown in summary

    unattested, _, _ = publish(ci, tmp_path / "unattested", stand_ins,
                               index=published_index(attested=("amd64",)))  # fmt: skip
    assert unattested["publish"].failure and "attestations" in unattested["publish"].failure


def test_pull_requests_build_both_platforms_but_never_log_in_nor_push(ci, tmp_path, stand_ins):
    """Only a push to the default branch or a release tag logs in to GHCR,
    pushes a platform's image, hands on its digest or runs publish; a pull
    request (or a push to another branch) still builds both platforms. No
    step that runs for a pull request is given a secret or the token."""
    image, publish_job = ci["jobs"]["image"], ci["jobs"]["publish"]
    login, upload = using(image, "docker/login-action"), using(image, "actions/upload-artifact")
    assert login and upload
    for event in EVENTS:
        published = event in PUBLISHED
        assert runs(publish_job, contexts(event)) == published, event
        for leg in legs(ci):
            run = contexts(event, matrix=leg, runner={"arch": NATIVE[leg["platform"]][1]})
            run["env"] = interpolate(image["env"], run)
            run["steps"] = {"image": {"outputs": {"name": "ghcr.io/owner/service"}}}
            assert runs(build_step(image), run), (event, leg)
            assert all(runs(step, run) == published for step in login + upload), (event, leg)
            outputs = interpolate(build_step(image)["with"]["outputs"], run).split(",")
            assert f"push={str(published).lower()}" in outputs, (event, outputs)
            if not published:
                for step in image["steps"]:
                    if runs(step, run):
                        text = yaml.safe_dump(step)
                        assert "secrets." not in text and "github.token" not in text, step
    # Run as a pull request: both builds, nothing handed on, no publish.
    pulled, made, artifacts = publish(ci, tmp_path, stand_ins, event="pull request")
    failures = {job: run.failure for job, run in pulled.items()}
    assert failures == dict.fromkeys(["amd64", "arm64", "publish"]), failures
    for arch in PUSHED:
        assert "push=false" in pulled[arch].given["build"]["outputs"].split(",")
    assert pulled["publish"].skipped and artifacts == {} and made == []
