-- Vulnerabilities (core/vulns/): imported CSAF advisories, global (no tenant). A row set belongs to
-- one release of an advisory (its current_release_date); readers take each advisory's newest
-- release, so importing a newer revision replaces the old one's products and vulnerabilities,
-- and importing the same release again replaces its rows.

CREATE TABLE IF NOT EXISTS {{TABLE advisories}} {{ON_CLUSTER}}
(
    advisory_id   String,
    release       DateTime64(6, 'UTC'),
    revision      String,
    title         String,
    publisher     String,
    initial       DateTime64(6, 'UTC'),
    source        String,
    imported_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {{ENGINE ReplacingMergeTree(imported_at)}}
ORDER BY (advisory_id, release);

{{DISTRIBUTED advisories sipHash64(advisory_id)}};

-- The product tree's leaves: vendor, product name (family), version condition, model numbers.
CREATE TABLE IF NOT EXISTS {{TABLE advisory_products}} {{ON_CLUSTER}}
(
    advisory_id    String,
    release        DateTime64(6, 'UTC'),
    product_id     String,
    vendor         String,
    family         String,
    name           String,
    condition      String,
    kind           LowCardinality(String),
    model_numbers  Array(String),
    imported_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {{ENGINE ReplacingMergeTree(imported_at)}}
ORDER BY (advisory_id, release, product_id);

{{DISTRIBUTED advisory_products sipHash64(advisory_id)}};

-- One row per CVE of an advisory: the affected products and what to do, per product.
CREATE TABLE IF NOT EXISTS {{TABLE advisory_vulns}} {{ON_CLUSTER}}
(
    advisory_id   String,
    release       DateTime64(6, 'UTC'),
    cve           String,
    cvss          Float32,
    title         String,
    products      Array(String),
    remediations  Map(String, String) CODEC(ZSTD),
    imported_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {{ENGINE ReplacingMergeTree(imported_at)}}
ORDER BY (advisory_id, release, cve);

{{DISTRIBUTED advisory_vulns sipHash64(advisory_id)}};
