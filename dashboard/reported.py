"""What sensors report, as the UI shows it: device attribute names, event detail names and values,
OT function names — a catalogue label where there is one, else the name made readable; round-trip
times (reported in seconds) in milliseconds."""

from __future__ import annotations

import re

from dashboard.i18n import N_, Translator

# Attribute names with a label ("attr_" + name; the first six the changes page uses too).
ATTRIBUTES = frozenset(key.removeprefix("attr_") for key in (
    N_("attr_vendor"), N_("attr_model"), N_("attr_firmware"), N_("attr_hostname"), N_("attr_os"),
    N_("attr_serial"), N_("attr_role"), N_("attr_ip"), N_("attr_mac"), N_("attr_device_type"),
    N_("attr_product"), N_("attr_protocol_served"), N_("attr_protocol_used"), N_("attr_dns_name"),
    N_("attr_netbios_name"), N_("attr_tcp_signature"), N_("attr_software"), N_("attr_client_software"),
    N_("attr_hart_tag"), N_("attr_goose_control_block"),
))
# Event details with a label ("detail_" + name).
DETAILS = frozenset(key.removeprefix("detail_") for key in (
    N_("detail_rtt"), N_("detail_rtt_max"), N_("detail_term_rtt"), N_("detail_unit"), N_("detail_address"),
    N_("detail_quantity"), N_("detail_exception"), N_("detail_session"), N_("detail_service"),
    N_("detail_class"), N_("detail_instance"), N_("detail_attribute"), N_("detail_tag"),
    N_("detail_vendor"), N_("detail_product_name"), N_("detail_serial"), N_("detail_revision"),
    N_("detail_device_type"), N_("detail_error_code"),
))
SECONDS = frozenset({"rtt", "rtt_max", "term_rtt"})  # details in seconds, shown in ms
# OT functions with a label ("fn_" + the name in lower case, words joined by "_"): Modbus, S7comm,
# CIP and EtherNet/IP's common ones. Others are shown as the sensor names them.
FUNCTIONS = frozenset(key.removeprefix("fn_") for key in (
    N_("fn_read_coils"), N_("fn_read_discrete_inputs"), N_("fn_read_holding_registers"),
    N_("fn_read_input_registers"), N_("fn_write_single_coil"), N_("fn_write_single_register"),
    N_("fn_write_multiple_coils"), N_("fn_write_multiple_registers"), N_("fn_read_write_multiple_registers"),
    N_("fn_mask_write_register"), N_("fn_diagnostics"), N_("fn_report_slave_id"),
    N_("fn_read_device_identification"), N_("fn_encap_interface_transport"),
    N_("fn_setup_communication"), N_("fn_read_variable"), N_("fn_write_variable"), N_("fn_request_download"),
    N_("fn_download_block"), N_("fn_download_ended"), N_("fn_start_upload"), N_("fn_upload"),
    N_("fn_end_upload"), N_("fn_plc_control"), N_("fn_plc_stop"), N_("fn_read_szl"),
    N_("fn_read_tag"), N_("fn_write_tag"), N_("fn_read_modify_write_tag"), N_("fn_get_attribute_single"),
    N_("fn_set_attribute_single"), N_("fn_get_attributes_all"), N_("fn_forward_open"), N_("fn_forward_close"),
    N_("fn_unconnected_send"), N_("fn_multiple_service_packet"), N_("fn_execute_pccc"), N_("fn_reset"),
    N_("fn_start"), N_("fn_stop"), N_("fn_list_identity"), N_("fn_list_services"), N_("fn_list_interfaces"),
    N_("fn_register_session"), N_("fn_unregister_session"), N_("fn_send_rr_data"), N_("fn_send_unit_data"),
))


def _readable(name: str) -> str:
    return name.replace("_", " ")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def attribute_label(name: str, t: Translator) -> str:
    return t(f"attr_{name}") if name in ATTRIBUTES else _readable(name)


def function_label(action: str, t: Translator) -> str:
    """``read_holding_registers`` → 保持レジスタ読出し / Read holding registers; unknown ones as named."""
    slug = _slug(action)
    return t(f"fn_{slug}") if slug in FUNCTIONS else _readable(action)


def milliseconds(seconds: str) -> str:
    """``0.001500`` (seconds) → ``1.5 ms``; text that is not a number stays as it is."""
    try:
        return f"{float(seconds) * 1000:.3g} ms"
    except ValueError:
        return seconds


def details(attrs: dict[str, str], t: Translator) -> list[tuple[str, str]]:
    """An event's details as (label, value), in name order."""
    return [(t(f"detail_{k}") if k in DETAILS else _readable(k), milliseconds(v) if k in SECONDS else v)
            for k, v in sorted(attrs.items())]
