"""The names the local drill gives its bucket, archive, realm, client and database."""

BUCKET = "idp-dr-drill"
PREFIX = "pg"
SERVER = "primary"
REALM = "drill"
CLIENT_ID = "drill-verifier"
DB_NAME = DB_USER = "keycloak"
