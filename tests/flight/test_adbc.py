"""The Flight SQL server seen from the client our users have: the Python
ADBC driver with pyarrow and pandas.

Run by tests/cli/server.rs, which starts `oneview serve` on the bundled
sample and passes its address and credentials in the environment."""

import os

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

URI = os.environ["ONEVIEW_TEST_URI"]
TOKEN = os.environ["ONEVIEW_TEST_TOKEN"]
USER = os.environ["ONEVIEW_TEST_USER"]
PASSWORD = os.environ["ONEVIEW_TEST_PASSWORD"]
SAMPLE = os.environ["ONEVIEW_TEST_SAMPLE"]
ROOT_CERT = os.environ.get("ONEVIEW_TEST_ROOT_CERT")
COPY_TARGET = f"/tmp/oneview-flight-copy-{os.getpid()}.csv"


def tls_options():
    if ROOT_CERT is None:
        return {}
    with open(ROOT_CERT) as f:
        return {"adbc.flight.sql.client_option.tls_root_certs": f.read()}


def connect_with_token():
    options = {"adbc.flight.sql.authorization_header": f"Bearer {TOKEN}", **tls_options()}
    return flight_sql.connect(URI, db_kwargs=options)


def connect_with_password(password=PASSWORD):
    options = {"username": USER, "password": password, **tls_options()}
    return flight_sql.connect(URI, db_kwargs=options)


def orders_on_disk():
    return pq.read_table(os.path.join(SAMPLE, "orders"))


def test_token_query_into_pyarrow_matches_the_parquet():
    expected = orders_on_disk()
    with connect_with_token() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) AS n, sum(amount) AS total FROM orders")
        table = cur.fetch_arrow_table()
    assert table.column("n")[0].as_py() == expected.num_rows
    assert table.column("total")[0].as_py() == pytest.approx(pa.compute.sum(expected["amount"]).as_py())


def test_password_login_and_pandas():
    with connect_with_password() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT channel, count(*) AS orders FROM orders GROUP BY channel ORDER BY orders DESC, channel"
        )
        frame = cur.fetch_df()
    expected = orders_on_disk().to_pandas()["channel"].value_counts()
    assert list(frame.columns) == ["channel", "orders"]
    assert dict(zip(frame["channel"], frame["orders"])) == expected.to_dict()
    assert frame["orders"].is_monotonic_decreasing


def test_string_columns_use_classic_wire_types():
    with connect_with_token() as conn, conn.cursor() as cur:
        cur.execute("SELECT email FROM email_subscribers LIMIT 3")
        table = cur.fetch_arrow_table()
    assert table.schema.field("email").type == pa.string()


def test_parameters():
    expected = orders_on_disk().to_pandas()
    threshold = float(expected["amount"].median())
    with connect_with_token() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM orders WHERE amount > $1", parameters=(threshold,))
        above = cur.fetch_arrow_table().column("n")[0].as_py()
        cur.execute("SELECT upper($1) AS shout, $2 + 1 AS next", parameters=("kelly", 41))
        row = cur.fetchone()
        # The DB-API's own style (qmark), as ADBC advertises it.
        assert flight_sql.paramstyle == "qmark"
        cur.execute("SELECT count(*) AS n FROM orders WHERE amount > ? AND channel <> '?'", parameters=(threshold,))
        qmark = cur.fetchone()[0]
    assert above == int((expected["amount"] > threshold).sum())
    assert qmark == above
    assert row == ("KELLY", 42)


def test_oneview_functions_are_available():
    with connect_with_token() as conn, conn.cursor() as cur:
        cur.execute("SELECT normalize_email(' K.Neal+promo@Mail.com ') AS e")
        assert cur.fetchone() == ("k.neal@mail.com",)


def test_get_objects_lists_the_project_tables():
    with connect_with_token() as conn:
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        info = conn.adbc_get_info()
    tables = {
        table["table_name"]
        for catalog in objects
        for schema in catalog["catalog_db_schemas"] or []
        for table in schema["db_schema_tables"] or []
    }
    assert {"orders", "crm_contacts", "consents"} <= tables
    assert info["vendor_name"] == "oneview"
    with connect_with_token() as conn:
        schema = conn.adbc_get_table_schema("orders")
    assert "amount" in schema.names


def test_no_credentials_are_refused():
    with pytest.raises(adbc_driver_manager.Error) as refused:
        with flight_sql.connect(URI, db_kwargs=tls_options()) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    assert "UNAUTHENTICATED" in str(refused.value).upper() or "credentials" in str(refused.value)


def test_wrong_password_is_refused():
    with pytest.raises(adbc_driver_manager.Error) as refused:
        with connect_with_password("wrong") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    assert "UNAUTHENTICATED" in str(refused.value).upper()


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE t AS SELECT 1",
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/etc/'",
        "DROP TABLE orders",
        "INSERT INTO orders SELECT * FROM orders",
        f"COPY (SELECT 1) TO '{COPY_TARGET}'",
        "SET datafusion.execution.batch_size = 1",
    ],
)
def test_writes_are_refused(statement):
    with connect_with_token() as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error) as refused:
            cur.execute(statement)
    assert "read-only" in str(refused.value)
    assert not os.path.exists(COPY_TARGET)


@pytest.mark.parametrize("path", ["orders-folder", "/etc/passwd"])
def test_local_files_cannot_be_read(path):
    if path == "orders-folder":
        path = os.path.join(SAMPLE, "orders")
    with connect_with_token() as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error) as refused:
            cur.execute(f"SELECT * FROM '{path}'")
            cur.fetchall()
    assert "not found" in str(refused.value).lower()
