"""Advisories in ClickHouse: import CSAF files (a file or a folder) and read back the newest
release of every advisory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.store.clickhouse import ClickHouseStore
from core.vulns.csaf import Advisory, CsafError, Product, Vulnerability, read


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)  # advisory ids
    refused: dict[str, str] = field(default_factory=dict)  # file → why


def import_path(ch: ClickHouseStore, path: Path) -> ImportReport:
    """Import one CSAF file or every ``*.json`` in a folder; a bad file is reported, not fatal.
    Raises CsafError when ``path`` is neither."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".json" and p.is_file())
        if not files:
            raise CsafError(f"{path}: no .json files")
    elif path.is_file():
        files = [path]
    else:
        raise CsafError(f"{path}: no such file or folder")
    report = ImportReport()
    read_ok: dict[str, Advisory] = {}
    for file in files:
        try:
            read_ok[file.name] = read(file)
        except CsafError as exc:
            report.refused[str(file)] = str(exc)
    store(ch, read_ok)
    report.imported = [a.advisory_id for a in read_ok.values()]
    return report


def store(ch: ClickHouseStore, advisories: dict[str, Advisory]) -> None:
    """Insert advisories (source file name → advisory): products and CVEs first, the advisory row,
    which makes its release the newest, last."""
    heads, products, vulns = [], [], []
    for source, a in advisories.items():
        key = {"advisory_id": a.advisory_id, "release": a.current_release}
        heads.append({**key, "revision": a.revision, "title": a.title, "publisher": a.publisher,
                      "initial": a.initial_release, "source": source})
        products += [{**key, "product_id": p.product_id, "vendor": p.vendor, "family": p.family, "name": p.name,
                      "condition": p.condition, "kind": p.kind, "model_numbers": list(p.model_numbers)}
                     for p in a.products]
        vulns += [{**key, "cve": v.cve, "cvss": v.cvss, "title": v.title, "products": list(v.products),
                   "remediations": v.remediations} for v in a.vulnerabilities]
    ch.insert_rows("advisory_products", products)
    ch.insert_rows("advisory_vulns", vulns)
    ch.insert_rows("advisories", heads)


# GLOBAL: on a cluster the newest releases are read once and sent to every shard (a plain IN of one
# Distributed table inside a query of another is refused there).
_NEWEST = "(advisory_id, release) GLOBAL IN (SELECT advisory_id, max(release) FROM advisories GROUP BY advisory_id)"


def fingerprint(ch: ClickHouseStore) -> tuple:
    """Changes whenever an import changed what ``load`` returns."""
    row = ch.query("SELECT count() AS n, max(imported_at) AS last FROM advisories")[0]
    return row["n"], row["last"]


def load(ch: ClickHouseStore) -> list[Advisory]:
    """The newest release of every imported advisory."""
    heads = ch.query(f"SELECT advisory_id, release, argMax(revision, imported_at) AS revision, "
                     f"argMax(title, imported_at) AS title, argMax(publisher, imported_at) AS publisher, "
                     f"argMax(initial, imported_at) AS initial FROM advisories WHERE {_NEWEST} "
                     f"GROUP BY advisory_id, release")
    products: dict[str, list[Product]] = {}
    for r in ch.query(f"SELECT advisory_id, product_id, vendor, family, name, condition, kind, model_numbers "
                      f"FROM advisory_products FINAL WHERE {_NEWEST}"):
        products.setdefault(r.pop("advisory_id"), []).append(Product(**{**r, "model_numbers": tuple(r["model_numbers"])}))
    vulns: dict[str, list[Vulnerability]] = {}
    for r in ch.query(f"SELECT advisory_id, cve, cvss, title, products, remediations "
                      f"FROM advisory_vulns FINAL WHERE {_NEWEST} ORDER BY cve"):
        vulns.setdefault(r.pop("advisory_id"), []).append(Vulnerability(
            cve=r["cve"], cvss=round(float(r["cvss"]), 1), title=r["title"], products=tuple(r["products"]),
            remediations=dict(r["remediations"])))
    return [Advisory(advisory_id=h["advisory_id"], title=h["title"], publisher=h["publisher"], revision=h["revision"],
                     initial_release=h["initial"], current_release=h["release"],
                     products=tuple(products.get(h["advisory_id"], ())),
                     vulnerabilities=tuple(vulns.get(h["advisory_id"], ()))) for h in heads]
