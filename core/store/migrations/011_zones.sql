-- Zones: the analyst's zone for a device (empty: its VLAN or subnet, core.analytics.zones) and its
-- Purdue level (0-5; NULL: not set), kept with the rest of what analysts say about a device.

{{ALTER asset_annotations}} ADD COLUMN IF NOT EXISTS zone String DEFAULT '' AFTER notes,
    ADD COLUMN IF NOT EXISTS purdue_level Nullable(UInt8) AFTER zone;
