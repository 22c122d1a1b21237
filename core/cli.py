"""``mieruka``: run the core, provision tenants, users, sensors and API tokens, and store contracts.

Activation codes and tokens are printed once, alone on stdout (so ``CODE=$(mieruka sensors add
...)`` works); other messages go to stderr. Bad input prints one ``error:`` line and exits with
code 2.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def uncollected_imports() -> Iterator[None]:
    """Import with the collector off, then freeze what was made: those objects (the API's modules and
    models: ~1 million) live as long as the process, and the collector's full passes over them while they
    were made took 1.2-1.7 s of CPU of every core start (a third of it)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


with uncollected_imports():
    import enum
    import json
    import sys
    from collections.abc import Callable
    from datetime import datetime, timedelta
    from pathlib import Path

    import typer
    from clickhouse_connect.driver.exceptions import ClickHouseError
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    from core.access import accounts
    from core.billing import contracts
    from core.fleet import activation, installation
    from core.billing.invoices import contract_json
    from core.config import Settings
    from core.detect.site import parse_networks
    from core.forward import deliver, destinations
    from core.store.clickhouse import ClickHouseStore
    from core.store.controlplane import ROLES, ControlPlane, Sensor, Tenant, audit
    from tariff.cli import app as tariff_app
    from tariff.errors import InputError
    from typer.exceptions import TyperException


# Plain (not rich-boxed) usage errors: "Error: Missing option '--serial'." and exit code 2.
_PLAIN = {"no_args_is_help": True, "rich_markup_mode": None}
app = typer.Typer(help="mieruka core: API server and administration.", **_PLAIN)
tenants = typer.Typer(help="Manage tenants.", **_PLAIN)
users = typer.Typer(help="Manage users.", **_PLAIN)
sensors = typer.Typer(help="Manage sensors.", **_PLAIN)
tokens = typer.Typer(help="Manage API tokens.", **_PLAIN)
contracts_cli = typer.Typer(help="Manage billing contracts (contract files: specs/tariff.md).", **_PLAIN)
app.add_typer(tenants, name="tenants")
app.add_typer(users, name="users")
app.add_typer(sensors, name="sensors")
app.add_typer(tokens, name="tokens")
app.add_typer(contracts_cli, name="contracts")
forward = typer.Typer(help="Forward alerts to a SIEM: syslog (CEF, LEEF) or webhook.", **_PLAIN)
app.add_typer(forward, name="forward")
indicators = typer.Typer(help="Indicators of compromise matched at ingest.", **_PLAIN)
app.add_typer(indicators, name="indicators")
alerts_cli = typer.Typer(help="Alerts.", **_PLAIN)
app.add_typer(alerts_cli, name="alerts")
advisories = typer.Typer(help="Security advisories (CSAF 2.0) matched against devices.", **_PLAIN)
app.add_typer(advisories, name="advisories")
export_cli = typer.Typer(help="Exports: the data team's statistics across tenants.", **_PLAIN)
app.add_typer(export_cli, name="export")
db_cli = typer.Typer(help="The control-plane database (MIERUKA_DATABASE_URL; default SQLite in the data directory).",
                     **_PLAIN)
app.add_typer(db_cli, name="db")
clickhouse_cli = typer.Typer(help="The ClickHouse store (MIERUKA_CLICKHOUSE_URL, MIERUKA_CLICKHOUSE_CLUSTER).",
                             **_PLAIN)
app.add_typer(clickhouse_cli, name="clickhouse")
app.add_typer(tariff_app, name="tariff")  # billing: see ../shared/specs/tariff.md


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(
            f"bad setting MIERUKA_{str(first['loc'][0]).upper()}: {first['msg']}"
        ) from None


@contextmanager
def control_plane() -> Iterator[Session]:
    """A control-plane session; AccountError becomes the one-line exit-2 error."""
    cp = ControlPlane(settings().database_dsn)
    try:
        cp.create_schema()
        with cp.sessions() as db:
            yield db
    except accounts.AccountError as exc:
        raise fail(str(exc)) from None
    finally:
        cp.close()


def note(message: str) -> None:
    typer.echo(message, err=True)


def server_modules():
    """uvicorn and the app's factory, imported as the CLI's own modules are (``uncollected_imports``)."""
    with uncollected_imports():
        import uvicorn

        from core.api.app import create_app
    return uvicorn, create_app


@app.command()
def serve(
    workers: int = typer.Option(1, min=1, max=64, help="worker processes; more than one needs a ClickHouse "
                                                        "server (MIERUKA_CLICKHOUSE_URL) and PostgreSQL "
                                                        "(MIERUKA_DATABASE_URL)"),
) -> None:
    """Run the API server (host and port from MIERUKA_HOST / MIERUKA_PORT)."""
    uvicorn, create_app = server_modules()
    cfg = settings()
    if workers > 1 and (cfg.clickhouse_dsn.startswith("chdb:") or cfg.database_dsn.startswith("sqlite")):
        raise fail("--workers > 1 needs MIERUKA_CLICKHOUSE_URL (a ClickHouse server) and MIERUKA_DATABASE_URL "
                   "(PostgreSQL): the embedded stores belong to one process")
    if workers == 1:
        uvicorn.run(create_app(cfg), host=cfg.host, port=cfg.port, workers=1, server_header=False)
        return
    from core.api.metrics import shared_between_workers

    with shared_between_workers() as metrics_dir:  # one scrape of /metrics sums every worker's
        note(f"workers share their metrics in {metrics_dir}")
        # each worker builds its own app from the same settings (the environment)
        uvicorn.run("core.api.app:create_app", factory=True, host=cfg.host, port=cfg.port, workers=workers,
                    server_header=False)


@app.command()
def demo(
    data_dir: Path = typer.Option(Path("data/demo"), help="wiped and recreated on every run"),
    port: int = typer.Option(8080, min=1, max=65535),
    packets: int = typer.Option(300_000, min=1000, help="simulated packets to replay"),
    seed: int = typer.Option(1),
) -> None:
    """Core + dashboard on 127.0.0.1 with embedded storage and a sensor replaying a simulated plant."""
    from core.demo import run_demo

    run_demo(data_dir, "127.0.0.1", port, packets, seed)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply the control plane's schema migrations (every command and `serve` also does at start)."""
    cp = ControlPlane(settings().database_dsn)
    try:
        note(f"control plane ({cp.url.get_backend_name()}) at revision {cp.create_schema()}")
    except OperationalError as exc:
        where = cp.url.render_as_string(hide_password=True)
        raise fail(f"control plane {where}: {str(exc.orig).splitlines()[0]}") from None
    finally:
        cp.close()


@clickhouse_cli.command("upgrade")
def clickhouse_upgrade() -> None:
    """Apply the ClickHouse schema migrations, ON CLUSTER on a cluster (`serve` also does at start: run
    this once before starting several workers, which would otherwise race to apply the same one)."""
    cfg = settings()
    try:
        with ClickHouseStore(cfg.clickhouse_dsn, cfg.clickhouse_cluster) as ch:
            applied = ch.migrate()
    except ClickHouseError as exc:
        raise fail(f"clickhouse: {str(exc).strip().splitlines()[0]}") from None
    note(f"ClickHouse migrations applied: {', '.join(map(str, applied))}" if applied else "ClickHouse schema up to date")


LEARNING_HOURS = typer.Option(None, "--learning-hours", min=0.0, max=24.0 * 365,
                              help="detection's learning period in hours of data (default 168)")
SITE_NETWORKS = typer.Option(None, "--site-networks", metavar="CIDR,…",
                             help="the site's networks, comma-separated (default: private, CGNAT and "
                                  "link-local ranges); addresses outside are the internet")


def _site_networks(text: str | None) -> str | None:
    """``--site-networks`` checked and normalised, or None when not given."""
    if text is None:
        return None
    try:
        return ",".join(map(str, parse_networks(text)))
    except ValueError as exc:
        raise fail(f"--site-networks: {exc}") from None


@tenants.command("add")
def tenants_add(name: str, learning_hours: float | None = LEARNING_HOURS,
                site_networks: str | None = SITE_NETWORKS) -> None:
    """Create a tenant."""
    networks = _site_networks(site_networks)
    with control_plane() as db:
        tenant = accounts.create_tenant(db, name)
        tenant.learning_hours = learning_hours
        tenant.site_networks = networks
        db.commit()
        note(f"tenant {tenant.name!r} created (id {tenant.id})")


@tenants.command("set")
def tenants_set(name: str, learning_hours: float | None = LEARNING_HOURS,
                site_networks: str | None = SITE_NETWORKS,
                retention_days: int | None = typer.Option(
                    None, min=0, max=65535, help="days its raw flows, events and observations are kept "
                                                 "(0: kept; default MIERUKA_RETENTION_RAW_DAYS); stored rows too")) -> None:
    """Change a tenant's detection and retention settings."""
    if learning_hours is None and site_networks is None and retention_days is None:
        raise fail("nothing to set: give --learning-hours, --site-networks or --retention-days")
    networks = _site_networks(site_networks)
    with control_plane() as db:
        tenant = accounts.tenant_named(db, name)
        changed = []
        if learning_hours is not None:
            tenant.learning_hours = learning_hours
            changed.append(f"learning_hours={learning_hours}")
        if networks is not None:
            tenant.site_networks = networks
            changed.append(f"site_networks={networks}")
        if retention_days is not None:
            tenant.retention_days = retention_days
            changed.append(f"retention_days={retention_days}")
        audit(db, "cli", "tenant.set", tenant.id, " ".join(changed)[:2000])
        db.commit()
        note(f"tenant {tenant.name!r}: " + ", ".join(changed))
        if retention_days is not None:  # running cores read it within Retention.RELOAD_S
            from core.export.retention import Retention, redate_settled

            note(f"re-dating its stored rows, again in {2 * Retention.RELOAD_S:.0f} s for rows stored meanwhile")
            def current() -> int | None:
                db.refresh(tenant)
                return tenant.retention_days

            cfg = settings()
            with ClickHouseStore(cfg.clickhouse_dsn, cfg.clickhouse_cluster) as ch:
                ch.migrate()
                redate_settled(ch, tenant.id, retention_days, current)


@tenants.command("relearn")
def tenants_relearn(name: str) -> None:
    """Start detection's learning period again: every sensor of the tenant learns from its next data."""
    with control_plane() as db:
        tenant = accounts.tenant_named(db, name)
        tenant.learning_epoch = (tenant.learning_epoch or 0) + 1
        audit(db, "cli", "tenant.relearn", tenant.id, f"epoch {tenant.learning_epoch}")
        db.commit()
        note(f"tenant {tenant.name!r} learns again from each sensor's next data")


@tenants.command("export")
def tenants_export(
    name: str,
    out: Path = typer.Option(..., "--out", help="a new or empty directory"),
) -> None:
    """Export every row of a tenant: Parquet (and CSV for small tables) per table, its invoices and a
    manifest with row counts and SHA-256 per file."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from core.billing.invoices import invoices_through
    from core.export.tenant import export_tenant, row_counts
    from tariff.calendar import Month

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise fail(f"--out {out}: not an empty directory")
    cfg = settings()
    with control_plane() as db, ClickHouseStore(cfg.clickhouse_dsn, cfg.clickhouse_cluster) as ch:
        tenant = accounts.tenant_named(db, name)
        ch.migrate()
        invoices = invoices_through(contracts.list_contracts(db, tenant.id), Month.of(datetime.now().date()))
        total = sum(row_counts(ch, tenant.id).values())
        with Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                      transient=True) as bar:
            task, done = bar.add_task("ClickHouse", total=total), {}

            def advance(table: str, rows: int) -> None:
                done[table] = rows
                bar.update(task, description=table, completed=min(sum(done.values()), total))

            manifest = export_tenant(ch, db.get_bind(), tenant.id, tenant.name, out, progress=advance, extra={
                "invoices.json": json.dumps(invoices, ensure_ascii=False, indent=1).encode()})
        audit(db, "cli", "tenant.export", tenant.id, f"{len(manifest['files'])} files to {out}"[:2000])
        db.commit()
    rows = sum(f["rows"] for f in manifest["files"] if f["path"].endswith(".parquet"))
    note(f"tenant {name!r}: {rows} rows in {len(manifest['files'])} files under {out} (manifest.json)")


@tenants.command("purge")
def tenants_purge(
    name: str,
    yes: bool = typer.Option(False, "--yes", help="confirm: the data cannot be restored"),
) -> None:
    """Delete every row of a tenant (contract ended): its data, users, tokens; kept are its name,
    contracts and sensors' billing dates, and the audit record of the deletion."""
    from core.export.purge import purge_tenant

    if not yes:
        raise fail("purging deletes the tenant's data for good: give --yes")
    cfg = settings()
    with control_plane() as db, ClickHouseStore(cfg.clickhouse_dsn, cfg.clickhouse_cluster) as ch:
        tenant = accounts.tenant_named(db, name)
        ch.migrate()
        deleted = purge_tenant(ch, db.get_bind(), tenant.id, actor="cli")
    note(f"tenant {name!r} purged: {sum(deleted.values())} rows from {len(deleted)} tables")


@tenants.command("purge-ended")
def tenants_purge_ended(
    dry_run: bool = typer.Option(False, "--dry-run", help="only list the tenants that would be purged"),
) -> None:
    """Purge every tenant whose contracts all ended more than MIERUKA_PURGE_GRACE_DAYS ago (the core
    also does this every hour)."""
    from core.export.purge import ended, purge_ended

    cfg = settings()
    with control_plane() as db, ClickHouseStore(cfg.clickhouse_dsn, cfg.clickhouse_cluster) as ch:
        ch.migrate()
        engine = db.get_bind()
        due = ended(engine, cfg.purge_grace_days) if dry_run else purge_ended(ch, engine, cfg.purge_grace_days)
        names = [db.get(Tenant, t).name for t in due]
    note(f"{'due' if dry_run else 'purged'}: {', '.join(names) or 'none'}")


@indicators.command("import")
def indicators_import(
    file: Path = typer.Argument(..., metavar="FILE", help="a STIX 2.1 bundle (JSON) or CSV type,value[,note]"),
    tenant: str | None = typer.Option(None, help="only this tenant's (default: every tenant)"),
) -> None:
    """Import indicators (IP, domain, JA3, JA4, HASSH) to match at ingest."""
    from core.detect.indicators import IndicatorError, import_file
    from core.store.clickhouse import ClickHouseStore

    with control_plane() as db:
        owner = accounts.tenant_named(db, tenant) if tenant else None
        cfg = settings()
        try:
            with ClickHouseStore(cfg.clickhouse_dsn, cfg.clickhouse_cluster) as ch:
                ch.migrate()
                imported, skipped = import_file(ch, file, owner.id if owner else 0)
        except IndicatorError as exc:
            raise fail(str(exc)) from None
        audit(db, "cli", "indicators.import", owner.id if owner else None,
              f"{file.name}: {imported} imported, {skipped} skipped")
        db.commit()
    note(f"{imported} indicator(s) imported for {tenant or 'every tenant'}, {skipped} skipped")


@alerts_cli.command("kinds")
def alerts_kinds() -> None:
    """Print the alert kinds as a Markdown table."""
    from core.detect.kinds import markdown_table

    typer.echo(markdown_table())


@advisories.command("import")
def advisories_import(
    path: Path = typer.Argument(..., metavar="PATH", help="a CSAF 2.0 JSON file, or a folder of them"),
) -> None:
    """Import advisories (offline); a newer release of an advisory replaces the one stored."""
    from core.store.clickhouse import ClickHouseStore
    from core.vulns.csaf import CsafError
    from core.vulns.store import import_path

    cfg = settings()
    try:
        with ClickHouseStore(cfg.clickhouse_dsn, cfg.clickhouse_cluster) as ch:
            ch.migrate()
            report = import_path(ch, path)
    except CsafError as exc:
        raise fail(str(exc)) from None
    for file, why in report.refused.items():
        typer.echo(f"error: {file}: {why}", err=True)
    with control_plane() as db:
        audit(db, "cli", "advisories.import", None,
              f"{path}: {len(report.imported)} imported, {len(report.refused)} refused")
        db.commit()
    if not report.imported:
        raise typer.Exit(2)
    note(f"{len(report.imported)} advisory file(s) imported, {len(report.refused)} refused")
    if report.refused:
        raise typer.Exit(1)


@advisories.command("match")
def advisories_match(
    vendor: str = typer.Option("", help="the device's vendor, e.g. 'Siemens AG'"),
    model: str = typer.Option("", help="model or catalogue number, e.g. '6ES7 214-1AG40-0XB0'"),
    firmware: str = typer.Option("", help="firmware version in the vendor's notation, e.g. V4.4.0"),
    assets: Path | None = typer.Option(None, "--assets", metavar="FILE.csv", help="CSV with columns vendor,model,firmware"),
) -> None:
    """Match devices (one, or a purchase list) against the imported advisories: a JSON line each."""
    from core.store.clickhouse import ClickHouseStore
    from core.vulns.match import DeviceId, match_devices
    from core.vulns.purchase import PurchaseListError, read_devices

    if assets is not None and (vendor or model or firmware):
        raise fail("give --assets or --vendor/--model/--firmware, not both")
    if assets is None and not model:
        raise fail("--model (or --assets) is required: a vendor alone matches nothing")
    try:
        devices = read_devices(assets) if assets else [DeviceId("1", vendor, model, firmware)]
    except PurchaseListError as exc:
        raise fail(str(exc)) from None
    cfg = settings()
    with ClickHouseStore(cfg.clickhouse_dsn, cfg.clickhouse_cluster) as ch:
        ch.migrate()
        found = match_devices(ch, devices)
    for d in devices:
        matches = [{"cve": m.cve, "cvss": m.cvss, "advisory": m.advisory, "confidence": m.confidence}
                   for m in found.get(d.key, [])]
        typer.echo(json.dumps({"vendor": d.vendor, "model": d.model, "firmware": d.firmware, "matches": matches},
                              ensure_ascii=False))



@users.command("add")
def users_add(
    tenant: str = typer.Option(..., help="tenant name"),
    email: str = typer.Option(...),
    role: str = typer.Option("analyst", help=f"one of {', '.join(ROLES)}"),
    password_stdin: bool = typer.Option(
        False, help="read the password from the first line of stdin"
    ),
) -> None:
    """Create a user (password prompted unless --password-stdin)."""
    password = _password(password_stdin)
    with control_plane() as db:
        user = accounts.create_user(
            db, accounts.tenant_named(db, tenant), email, password, role
        )
        note(f"user {user.email} ({user.role}) created in tenant {tenant!r}")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


EMAIL = typer.Argument(..., metavar="EMAIL", help="the user's e-mail address")


@users.command("list")
def users_list(tenant: str | None = typer.Option(None, help="only this tenant's")) -> None:
    """One line per user: e-mail, tenant, role, state (active, disabled, paused until ...)."""
    with control_plane() as db:
        rows = _listed(db, tenant, accounts.users, "user.list", "user")
        for user in rows:
            typer.echo("\t".join([user.email, user.tenant.name, user.role, _user_state(user)]))


def _user_state(user) -> str:
    state = accounts.user_state(user)
    if state == "disabled":
        return f"disabled since {user.disabled_at:%Y-%m-%d %H:%M} UTC"
    if state == "paused":
        return f"paused until {user.locked_until:%Y-%m-%d %H:%M} UTC"
    return state


@users.command("disable")
def users_disable(email: str = EMAIL) -> None:
    """Disable a user: no login; their sessions end and their API tokens stop working."""
    with control_plane() as db:
        accounts.set_disabled(db, accounts.user_with_email(db, email), True)
        note(f"user {email} disabled")


@users.command("enable")
def users_enable(email: str = EMAIL) -> None:
    """Let a disabled user log in again (their API tokens work again)."""
    with control_plane() as db:
        accounts.set_disabled(db, accounts.user_with_email(db, email), False)
        note(f"user {email} enabled")


@users.command("unlock")
def users_unlock(email: str = EMAIL) -> None:
    """Lift the pause an account gets after too many failed logins."""
    with control_plane() as db:
        accounts.unlock_user(db, accounts.user_with_email(db, email))
        note(f"user {email} unlocked")


@users.command("set-password")
def users_set_password(
    email: str = EMAIL,
    password_stdin: bool = typer.Option(False, help="read the password from the first line of stdin"),
) -> None:
    """Set a user's password (prompted unless --password-stdin); their sessions end."""
    password = _password(password_stdin)
    with control_plane() as db:
        accounts.set_password(db, accounts.user_with_email(db, email), password)
        note(f"password of {email} set")


def _valid_for(days: float | None) -> timedelta:
    return timedelta(days=settings().activation_code_days if days is None else days)


VALID_DAYS = typer.Option(
    None, min=0.001, help="days the activation code stays valid (default MIERUKA_ACTIVATION_CODE_DAYS)"
)


def _print_code(code: str, expires: datetime, what: str) -> None:
    note(f"{what}; activation code valid until {expires:%Y-%m-%d %H:%M} UTC, shown only once:")
    typer.echo(code)


@sensors.command("add")
def sensors_add(
    tenant: str = typer.Option(..., help="tenant name"),
    serial: str = typer.Option(...),
    name: str = typer.Option("", help="display name (default: the serial)"),
    token: bool = typer.Option(
        False, "--token", help="lab use: register it as activated and print its bearer token"
    ),
    valid_days: float | None = VALID_DAYS,
) -> None:
    """Register a sensor as shipped and print its one-time activation code (shown only once)."""
    with control_plane() as db:
        owner = accounts.tenant_named(db, tenant)
        if token:
            sensor, raw = accounts.create_sensor(db, owner, serial, name)
            note(f"sensor {sensor.serial} registered (id {sensor.id}); its token, shown only once:")
            typer.echo(raw)
            return
        sensor, code, expires = activation.ship_sensor(db, owner, serial, name, _valid_for(valid_days))
        _print_code(code, expires, f"sensor {sensor.serial} registered as shipped (id {sensor.id})")


@sensors.command("set")
def sensors_set(
    tenant: str = typer.Option(..., help="tenant name"),
    serial: str = typer.Option(...),
    silent_minutes: int = typer.Option(..., min=1, max=60 * 24 * 31,
                                       help="raise sensor_silent after this many minutes without an upload"),
) -> None:
    """Change a sensor's settings: how long a silence raises ``sensor_silent`` (default 30 minutes)."""
    with control_plane() as db:
        sensor = accounts.sensor_with_serial(db, accounts.tenant_named(db, tenant), serial)
        sensor.silent_minutes = silent_minutes
        audit(db, "cli", "sensor.set", sensor.tenant_id, f"{sensor.serial}: silent_minutes={silent_minutes}")
        db.commit()
        note(f"sensor {sensor.serial}: sensor_silent after {silent_minutes} min without an upload")


@sensors.command("code")
def sensors_code(
    tenant: str = typer.Option(..., help="tenant name"),
    serial: str = typer.Option(...),
    valid_days: float | None = VALID_DAYS,
) -> None:
    """Issue a new activation code for a sensor's box (the old code, if unused, stops working)."""
    with control_plane() as db:
        sensor = accounts.sensor_with_serial(db, accounts.tenant_named(db, tenant), serial)
        code, expires = activation.issue_code(db, sensor, sensor.serial, _valid_for(valid_days))
        _print_code(code, expires, f"new code for sensor {sensor.serial} (id {sensor.id})")


@sensors.command("replace")
def sensors_replace(
    tenant: str = typer.Option(..., help="tenant name"),
    serial: str = typer.Option(..., help="serial of the failed box"),
    new_serial: str = typer.Option(..., help="serial of the replacement box"),
    valid_days: float | None = VALID_DAYS,
) -> None:
    """Print an activation code with which a new box takes over a failed sensor's identity and data."""
    with control_plane() as db:
        sensor, code, expires = activation.replace_sensor(
            db, accounts.tenant_named(db, tenant), serial, new_serial, _valid_for(valid_days)
        )
        _print_code(code, expires, f"box {new_serial.strip()} will take over sensor {sensor.serial} "
                                   f"(id {sensor.id}) when activated; its token stops working then")


class Milestone(str, enum.Enum):
    installation = "installation"
    opening_test = "opening-test"


@sensors.command("reset-date")
def sensors_reset_date(
    milestone: Milestone = typer.Argument(..., help="which completion date to forget"),
    tenant: str = typer.Option(..., help="tenant name"),
    serial: str = typer.Option(...),
) -> None:
    """Forget a sensor's installation or opening-test date, so the sensor's next report sets it."""
    with control_plane() as db:
        sensor = accounts.sensor_with_serial(db, accounts.tenant_named(db, tenant), serial)
        installation.reset(db, sensor, milestone.value)
        note(f"{milestone.value} date of sensor {sensor.serial} reset")


@tokens.command("add")
def tokens_add(
    email: str = typer.Option(..., help="the user the token acts as"),
    name: str = typer.Option("", help="what the token is for"),
    expires_days: float | None = typer.Option(None, min=0.001, help="days until it stops working (default: never)"),
) -> None:
    """Issue an API token for a user and print it (shown only this once)."""
    valid_for = timedelta(days=expires_days) if expires_days is not None else None
    with control_plane() as db:
        token, raw = accounts.create_api_token(db, accounts.user_with_email(db, email), name, valid_for=valid_for)
        until = f"valid until {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "no expiry"
        note(f"API token {token.id} for {email} ({until}); shown only once:")
        typer.echo(raw)


@tokens.command("list")
def tokens_list(tenant: str | None = typer.Option(None, help="only this tenant's")) -> None:
    """One line per API token: id, user, name, created, expires, state (live, expired, revoked)."""
    with control_plane() as db:
        rows = _listed(db, tenant, accounts.api_tokens, "api_token.list", "token")
        for token in rows:
            expires = f"{token.expires_at:%Y-%m-%d %H:%M}" if token.expires_at else "never"
            typer.echo("\t".join([str(token.id), token.user.email, token.name,
                                   f"{token.created_at:%Y-%m-%d %H:%M}", expires, accounts.token_state(token)]))


@tokens.command("revoke")
def tokens_revoke(token_id: int = typer.Argument(..., metavar="ID", help="the token's id (see tokens list)")) -> None:
    """Revoke an API token: it answers 401 from now on."""
    with control_plane() as db:
        accounts.revoke_api_token(db, accounts.api_token(db, token_id))
        note(f"API token {token_id} revoked")


@sensors.command("revoke")
def sensors_revoke(
    tenant: str = typer.Option(..., help="tenant name"),
    serial: str = typer.Option(...),
) -> None:
    """Stop a sensor's token from working (its batches wait on the box); `sensors code` brings it back."""
    with control_plane() as db:
        sensor = accounts.sensor_with_serial(db, accounts.tenant_named(db, tenant), serial)
        accounts.revoke_sensor(db, sensor)
        note(f"token of sensor {sensor.serial} revoked; issue a new code with `mieruka sensors code` to bring it back")


CONTRACT_FILE = typer.Option(..., "--file", help="contract file, JSON (specs/tariff.md §4)")
CONTRACT_ID = typer.Argument(..., metavar="ID", help="the contract's id (see contracts list)")


@contextmanager
def contract_file(path: Path) -> Iterator[str]:
    """The file's text; a file the tariff engine rejects becomes one error line naming the field."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"--file: cannot read {path}: {exc}") from None
    try:
        yield text
    except InputError as exc:
        raise fail(f"{path}: {exc}") from None


def _sensors(db: Session, tenant: Tenant, serials: list[str]) -> list[Sensor]:
    return [accounts.sensor_with_serial(db, tenant, serial) for serial in serials]


def _read(db: Session, action: str, detail: str) -> None:
    """Operators' reads are the provider's own records, apart from any tenant's."""
    audit(db, "cli", action, None, detail)
    db.commit()


def _listed(db: Session, tenant: str | None, rows_of: Callable[[Session, int | None], list], action: str,
            noun: str) -> list:
    """``rows_of`` one tenant's (by name) or, with no tenant, all tenants' rows; the read audited."""
    rows = rows_of(db, accounts.tenant_named(db, tenant).id if tenant else None)
    _read(db, action, f"{tenant or 'all tenants'}: {len(rows)} {noun}(s)")
    return rows


@contracts_cli.command("add")
def contracts_add(
    tenant: str = typer.Option(..., help="tenant name"),
    file: Path = CONTRACT_FILE,
    sensor: list[str] = typer.Option(
        [], metavar="SERIAL", help="a sensor delivered for this OsecT contract's opening (repeatable)"
    ),
) -> None:
    """Store a contract file for a tenant and print the contract's id."""
    with contract_file(file) as text, control_plane() as db:
        owner = accounts.tenant_named(db, tenant)
        contract = contracts.add_contract(db, owner, text, _sensors(db, owner, sensor))
        note(f"contract {contract.contract_id} ({contract.plan}) added to tenant {owner.name!r}")
        typer.echo(contract.id)


@contracts_cli.command("update")
def contracts_update(
    contract: int = CONTRACT_ID,
    file: Path = CONTRACT_FILE,
    sensor: list[str] = typer.Option(
        [], metavar="SERIAL", help="replaces the contract's sensors when given (repeatable)"
    ),
) -> None:
    """Replace a contract's file (sensor changes, termination, corrected dates); it keeps its number."""
    with contract_file(file) as text, control_plane() as db:
        row = contracts.get_contract(db, contract, None)
        if row is None:
            raise fail(f"ID: no contract {contract}")
        contracts.update_contract(db, row, text, _sensors(db, row.tenant, sensor) if sensor else None)
        note(f"contract {row.contract_id} updated")


@contracts_cli.command("list")
def contracts_list(tenant: str | None = typer.Option(None, help="only this tenant's")) -> None:
    """One line per contract: id, tenant, contract number, plan, opening date (OsecT)."""
    with control_plane() as db:
        stored = _listed(db, tenant, contracts.list_contracts, "contract.list", "contract")
        rows = [contract_json(row) for row in stored]
    for c in rows:
        opening = c["opening"]["opening_date"] if c["opening"] else "-"
        typer.echo("\t".join([str(c["id"]), c["tenant"], c["contract_id"], c["plan"], opening, c["error"] or ""]))


@contracts_cli.command("show")
def contracts_show(contract: int = CONTRACT_ID) -> None:
    """A contract as JSON: its file, sensors, completion dates and where each came from, opening date."""
    with control_plane() as db:
        row = contracts.get_contract(db, contract, None)
        if row is None:
            raise fail(f"ID: no contract {contract}")
        shown = contract_json(row)
        _read(db, "contract.show", f"contract {row.id} {row.contract_id} of {row.tenant.name}")
    typer.echo(json.dumps(shown, ensure_ascii=False, indent=2))


TENANT = typer.Option(..., help="tenant name")
DESTINATION = typer.Argument(..., metavar="NAME", help="the destination's name (see forward list)")


@forward.command("add")
def forward_add(
    name: str = DESTINATION,
    tenant: str = TENANT,
    url: str = typer.Option(..., help="udp|tcp|tls://host:port (syslog) or http(s)://... (webhook)"),
    format: str = typer.Option("", help="cef or leef for syslog (default cef); json for a webhook"),
    min_severity: str = typer.Option("info", help="forward only alerts at least this severe"),
    secret_stdin: bool = typer.Option(False, help="read the webhook's HMAC key from the first line of stdin"),
    ca: Path | None = typer.Option(None, help="TLS: CA bundle the receiver's certificate must chain to"),
    cert: Path | None = typer.Option(None, help="TLS: client certificate (PEM)"),
    key: Path | None = typer.Option(None, help="TLS: the client certificate's key (PEM)"),
    insecure: bool = typer.Option(False, help="TLS: do not check the receiver's certificate"),
) -> None:
    """Add a destination the tenant's alerts are forwarded to."""
    fmt = format or ("json" if url.startswith("http") else "cef")
    secret = sys.stdin.readline().strip() if secret_stdin else None
    with control_plane() as db:
        try:
            added = destinations.add(db, accounts.tenant_named(db, tenant).id, name, url, fmt, min_severity,
                                     secret, *(str(f) if f else None for f in (ca, cert, key)), not insecure)
        except destinations.DestinationError as exc:
            raise fail(str(exc)) from None
        audit(db, "cli", "forward.add", added.tenant_id, f"{name} {destinations.masked_url(url)}")
        db.commit()
        note(f"destination {name!r} added ({fmt}, {min_severity} and above)")


@forward.command("list")
def forward_list(tenant: str | None = typer.Option(None, help="only this tenant's")) -> None:
    """One line per destination: tenant, name, URL, format, minimum severity, queue, last outcomes."""
    with control_plane() as db:
        rows = _listed(db, tenant, destinations.states, "forward.list", "destination")
        for tenant_id, d in rows:
            seen = [f"{when:%Y-%m-%d %H:%M:%S}" if when else "-" for when in (d.last_success, d.last_failure)]
            typer.echo("\t".join([db.get(Tenant, tenant_id).name, d.name, d.url, d.format, d.min_severity,
                                   f"queued={d.queued}", f"ok={seen[0]}", f"failed={seen[1]}", d.last_error or ""]))


@forward.command("test")
def forward_test(name: str = DESTINATION, tenant: str = TENANT) -> None:
    """Send a test alert (severity info, not queued) and say in one line whether it was taken."""
    with control_plane() as db:
        destination = _destination(db, tenant, name)
        db.expunge(destination)
    try:
        with deliver.connect(destination) as sender:
            sender.send(deliver.sample_alert(), "test")
    except Exception as exc:  # whatever the receiver or the network did, one line
        typer.echo(f"failed: {name} ({destinations.masked_url(destination.url)}): {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    typer.echo(f"ok: test alert sent to {name} ({destinations.masked_url(destination.url)})")


@forward.command("remove")
def forward_remove(name: str = DESTINATION, tenant: str = TENANT) -> None:
    """Remove a destination with whatever it has not yet been sent."""
    with control_plane() as db:
        destination = _destination(db, tenant, name)
        destinations.remove(db, destination)
        audit(db, "cli", "forward.remove", destination.tenant_id, name)
        db.commit()
        note(f"destination {name!r} removed")


def _destination(db: Session, tenant: str, name: str):
    try:
        return destinations.named(db, accounts.tenant_named(db, tenant).id, name)
    except destinations.DestinationError as exc:
        raise fail(str(exc)) from None


@app.command("report")
def report_command(
    tenant: str = TENANT,
    start: str = typer.Option(..., help="first day (YYYY-MM-DD, in Japan) or ISO 8601 time"),
    end: str = typer.Option(..., help="last day (YYYY-MM-DD, included) or ISO 8601 time (excluded)"),
    out: Path = typer.Option(..., metavar="FILE.pdf|FILE.html", help="the report's file; its extension says the format"),
    lang: str = typer.Option("ja", help="ja or en"),
) -> None:
    """Write the assessment report of a tenant's period (PDF or HTML, Japanese or English)."""
    from core.report.catalogue import LANGS
    from core.report.make import FORMATS, make_report
    from core.report.period import period
    from core.report.render import ReportError
    from core.store.clickhouse import ClickHouseStore

    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise fail(f"--out: {out.name} must end in .pdf or .html")
    if lang not in LANGS:
        raise fail(f"--lang: {lang!r} is not one of {', '.join(LANGS)}")
    try:
        span = period(start, end)
    except ValueError as exc:
        raise fail(f"--start/--end: {exc}") from None
    cfg = settings()
    with control_plane() as db:
        owner = accounts.tenant_named(db, tenant)
        try:
            with ClickHouseStore(cfg.clickhouse_dsn, cfg.clickhouse_cluster) as ch:
                ch.migrate()
                made = make_report(ch, owner.id, owner.name, span, lang, fmt, cfg.chromium)
        except ReportError as exc:
            raise fail(str(exc)) from None
        try:
            out.write_bytes(made)
        except OSError as exc:
            raise fail(f"--out: {exc.strerror}: {out}") from None
        audit(db, "cli", "report", owner.id, f"{span.start:%Y-%m-%dT%H:%MZ}/{span.end:%Y-%m-%dT%H:%MZ} {lang} {fmt}")
        db.commit()
    note(f"report written to {out} ({len(made):,} bytes)")


@export_cli.command("stats")
def export_stats(
    start: str = typer.Option(..., help="first day (YYYY-MM-DD, UTC)"),
    end: str = typer.Option(..., help="last day (YYYY-MM-DD, UTC, included)"),
    out: Path = typer.Option(..., metavar="FILE.parquet|FILE.csv", help="the file; its extension says the format"),
    purpose: str = typer.Option(..., help="why the statistics are exported (kept in the audit log)"),
    period: str = typer.Option("month", help="month or week"),
) -> None:
    """Statistics across every tenant for the data team: a cell is published only when it aggregates
    MIERUKA_STATS_K tenants and MIERUKA_STATS_M devices (README "Statistics for the data team")."""
    from datetime import UTC, date

    from core.export.stats import FORMATS, write_stats
    from core.stats.access import PURPOSE_MAX, record_read
    from core.stats.build import statistics
    from core.stats.periods import KINDS, periods

    if out.suffix.lower() not in FORMATS:
        raise fail(f"--out: {out.name} must end in .parquet or .csv")
    if period not in KINDS:
        raise fail(f"--period: {period!r} is not one of {', '.join(KINDS)}")
    if not 3 <= len(purpose.strip()) <= PURPOSE_MAX:
        raise fail(f"--purpose: say why, in 3 to {PURPOSE_MAX} characters")
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
        periods(first, last, period)
    except ValueError as exc:
        raise fail(f"--start/--end: {exc}") from None
    cfg = settings()
    with control_plane() as db, ClickHouseStore(cfg.clickhouse_dsn, cfg.clickhouse_cluster) as ch:
        ch.migrate()
        found = statistics(ch, db, first, last, period, cfg.stats_k, cfg.stats_m, datetime.now(UTC))
        try:
            size = write_stats(out, found.all_rows(), found.metadata(first, last))
        except OSError as exc:
            raise fail(f"--out: {exc.strerror}: {out}") from None
        record_read(db, "cli", "stats.export", purpose, first, last, period)
    suppressed = sum(sum(reasons.values()) for reasons in found.suppressed.values())
    note(f"{len(found.rows)} rows, {suppressed} cells suppressed: {out} ({size:,} bytes)")


def main() -> None:
    """Entry point: CLI usage errors print one line and exit 2, like our own errors."""
    try:
        code = app(standalone_mode=False)
    except TyperException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(getattr(exc, "exit_code", 1))
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
