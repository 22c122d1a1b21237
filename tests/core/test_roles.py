from core.analytics.roles import OT_SERVICES, Role, choose_role, infer_role, service_name
from sensor.decode import registry


def test_controller_serves_an_ot_protocol():
    assert infer_role({"modbus": True}, {}, set()) == Role("plc", "behaviour", 80)
    assert infer_role({"s7comm": False}, {}, set()) == Role("plc", "behaviour", 50)  # port hint only


def test_clients_of_controllers_are_hmis_unless_they_program_or_stop_them():
    assert infer_role({}, {"modbus": True}, {"read_holding_registers"}).value == "hmi"
    assert infer_role({}, {"s7comm": True}, {"read_var", "plc_stop"}).value == "engineering_workstation"
    assert infer_role({}, {"s7comm": True}, {"download_block"}).value == "engineering_workstation"


def test_cameras_and_recorders():
    assert infer_role({"rtsp": True}, {}, set()).value == "camera"
    assert infer_role({}, {"rtsp": True}, set(), rtsp_peers=5).value == "nvr"
    assert infer_role({}, {"rtsp": True}, set(), rtsp_peers=1) is None  # one viewer is not a recorder


def test_infrastructure_servers_and_unknowns():
    assert infer_role({"dns": True, "dhcp": True}, {}, set()).value == "server"
    assert infer_role({}, {"dns": True, "http": True}, set()) is None


def test_stated_role_wins_unless_inference_is_more_confident():
    stated = Role("router", "ip", 60)
    assert choose_role(Role("hmi", "behaviour", 50), stated) == stated
    assert choose_role(Role("plc", "behaviour", 80), stated).value == "plc"
    assert choose_role(None, None) is None


def test_port_hints_only_when_no_service_was_detected():
    assert service_name("modbus", 8080) == ("modbus", True)
    assert service_name("", 502) == ("modbus", False)
    assert service_name("", 31337) == ("", False)


def test_every_industrial_protocol_the_sensor_names_is_known_to_the_role_rules():
    industrial = {"modbus", "s7comm", "enip", "bacnet", "dnp3", "iec104", "omron_fins", "slmp", "opcua",
                  "hart_ip", "ads", "knxnet_ip", "cclink_ie_field_basic"}
    named = {p.name for p in registry.PROTOCOLS}
    assert industrial <= named  # the sensor still uses these service names
    assert industrial <= OT_SERVICES
