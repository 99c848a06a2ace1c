-- The app's own Postgres role: it owns its database and the objects in it,
-- and nothing more (no superuser, no CREATEROLE, no CREATEDB outside
-- development), so an SQL injection cannot run `COPY ... FROM PROGRAM`,
-- `ALTER SYSTEM` or `CREATE ROLE`. Only this script uses the superuser.
--
-- Takes (environment, read with psql's \getenv): APP_ROLE, APP_PASSWORD, and
-- APP_CREATEDB=CREATEDB where the test suite makes its own database
-- (development), else NOCREATEDB; all three must be set. Connect as the superuser
-- to the app's database (PGHOST, PGUSER, PGPASSWORD, PGDATABASE).
-- Idempotent: compose runs it on every start (service db-roles), so it also
-- converts a database made before 0.10.0, whose tables the superuser owns,
-- and a changed APP_PASSWORD takes effect on the next start.
\set ON_ERROR_STOP on
\getenv app_role APP_ROLE
\getenv app_password APP_PASSWORD
\getenv app_createdb APP_CREATEDB

SELECT format('CREATE ROLE %I', :'app_role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec

SELECT format(
    'ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEROLE %s NOREPLICATION NOBYPASSRLS PASSWORD %L',
    :'app_role',
    CASE WHEN :'app_createdb' = 'CREATEDB' THEN 'CREATEDB' ELSE 'NOCREATEDB' END,
    :'app_password'
) \gexec

-- As the database's owner it owns its public schema (pg_database_owner), so
-- migrations can create tables there.
SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), :'app_role') \gexec

-- Tables, views and free-standing sequences another role made move to the
-- app's role; a column's own sequence follows its table.
SELECT format(
    'ALTER %s %I.%I OWNER TO %I',
    CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                   WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
    n.nspname, c.relname, :'app_role'
)
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
  AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
  AND pg_get_userbyid(c.relowner) <> :'app_role'
  AND NOT EXISTS (
      SELECT FROM pg_depend AS d
      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')
  ) \gexec
