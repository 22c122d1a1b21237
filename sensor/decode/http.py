"""HTTP/1.x (RFC 9112): one event per request, answered in order by the responses, with Zeek's
http.log fields (method, host, uri, version, user_agent, status, Server).

Camera APIs are recognised by path (Hikvision ISAPI, Axis VAPIX, Dahua CGI/RPC2, ONVIF SOAP): the
request names the API and its vendor becomes a hint about the server. A device describing itself
(an ONVIF GetDeviceInformation answer, a UPnP device description) gives vendor, model, firmware,
serial and name facts; a Server banner of a known shape (``sensor.decode.identity``) gives vendor,
model or firmware facts. Credentials are
flagged, never kept: Basic authorization, a WS-Security PasswordText or credentials in the URL
set ``cleartext_credentials``; any other scheme is named only. A tunnel (101, CONNECT) or a media
stream (MJPEG, video) ends decoding of the flow.
"""

from __future__ import annotations

import re

from sensor.decode import identity, soap, textproto
from sensor.decode.spec import Event, Fact, Protocol, Session

_METHODS = rb"(?:GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE)"
_START = re.compile(_METHODS + rb" |HTTP/1\.[01] ")
_REQUEST_LINE = re.compile(_METHODS + rb" [^\s]+ HTTP/1\.[01]\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] [1-5]\d\d[ \r]")
# path prefix (lower case) → (API, the vendor it points to)
CAMERA_APIS = (
    ("/isapi/", "isapi", "Hikvision"),
    ("/axis-cgi/", "vapix", "Axis"),
    ("/cgi-bin/magicbox.cgi", "dahua-cgi", "Dahua"),
    ("/cgi-bin/configmanager.cgi", "dahua-cgi", "Dahua"),
    ("/cgi-bin/snapmanager.cgi", "dahua-cgi", "Dahua"),
    ("/cgi-bin/mediafilefind.cgi", "dahua-cgi", "Dahua"),
    ("/cgi-bin/devvideoinput.cgi", "dahua-cgi", "Dahua"),
    ("/rpc2", "dahua-rpc", "Dahua"),
    ("/onvif/", "onvif", ""),
)
STREAMING = ("multipart/x-mixed-replace", "video/", "audio/")  # endless bodies: nothing more to learn
# elements of a device's self-description → facts: ONVIF GetDeviceInformation, UPnP device description
DEVICE_INFORMATION = {"Manufacturer": "vendor", "Model": "model", "FirmwareVersion": "firmware",
                      "SerialNumber": "serial", "HardwareId": "hardware_id"}
UPNP_DESCRIPTION = {"manufacturer": "vendor", "modelName": "model", "modelNumber": "model_number",
                    "serialNumber": "serial", "friendlyName": "device_name"}
DESCRIPTIONS = ((b"GetDeviceInformationResponse", DEVICE_INFORMATION),
                (b"urn:schemas-upnp-org:device-1-0", UPNP_DESCRIPTION))
CONF_SOFTWARE = 60  # a software banner names the product, not the device
CONF_API_HINT = 50  # a request's API suggests the server's vendor
CONF_DESCRIPTION = 90  # the device described itself


def starts(buf: bytes) -> bool:
    return _START.match(buf) is not None


def detect(payload: bytes) -> bool:
    return _REQUEST_LINE.match(payload) is not None or _STATUS_LINE.match(payload) is not None


def camera_api(uri: str) -> tuple[str, str]:
    """(API, vendor) a request path belongs to, or ("", "")."""
    path = uri.split("?", 1)[0].lower()
    if "://" in path:  # absolute form (proxy requests)
        path = "/" + path.split("/", 3)[-1]
    for prefix, api, vendor in CAMERA_APIS:
        if path.startswith(prefix):
            return api, vendor
    return "", ""


def decode(pdu: bytes, is_orig: bool, session: Session) -> list[Event | Fact]:
    if not starts(pdu):
        return []  # body bytes
    msg = textproto.parse(pdu, b"HTTP/")
    session.services.add("http")
    return _request(msg, session) if msg.is_request else _response(msg, session)


def _request(msg: textproto.Message, session: Session) -> list[Event | Fact]:
    uri, leaked = textproto.redact(msg.uri)
    api, vendor = camera_api(uri)
    attrs: dict[str, object] = {"host": msg.header("host"), "uri": uri, "version": msg.version[5:],
                                "user_agent": msg.header("user-agent"), "api": api}
    if api == "onvif":
        session.services.add("onvif")
        attrs["onvif_action"] = soap.body_action(msg.body)
        if b"UsernameToken" in msg.body:
            attrs["auth_scheme"] = "WS-Security"
            leaked = leaked or b"#PasswordText" in msg.body
    attrs = textproto.authorization(msg, leaked) | attrs
    event = session.ask(session.count("requests"), Event(msg.method, attrs=attrs))
    textproto.note_default(msg, event, session)
    out: list[Event | Fact] = [event]
    if attrs["user_agent"]:
        out.append(Fact("client_software", str(attrs["user_agent"]), confidence=CONF_SOFTWARE))
    if vendor:
        out.append(Fact("vendor", vendor, about_sender=False, confidence=CONF_API_HINT))
    if msg.method == "CONNECT":
        session.done = True  # a tunnel follows
    return out


def _response(msg: textproto.Message, session: Session) -> list[Event | Fact]:
    if 100 <= msg.status < 200 and msg.status != 101:
        return []  # interim response: the final one follows
    out: list[Event | Fact] = []
    event = session.answer_in_turn("responses", out)
    server, content_type = msg.header("server"), msg.header("content-type")
    event.status = str(msg.status)
    textproto.confirm_default(event, msg.status, session)
    event.attrs.update(status_msg=msg.reason, server=server, content_type=content_type, **textproto.challenge(msg))
    if server:
        out += [Fact("software", server, confidence=CONF_SOFTWARE), *identity.banner_facts("server", server)]
    for marker, elements in DESCRIPTIONS:
        if marker in msg.body:
            for element, attribute in elements.items():
                value = soap.element(msg.body, element)
                if value:
                    out.append(Fact(attribute, value, confidence=CONF_DESCRIPTION))
    if msg.status == 101 or content_type.lower().startswith(STREAMING):
        session.done = True  # another protocol, or an endless stream, follows
    return out


PROTOCOL = Protocol("http", frozenset({"tcp"}), frozenset({80, 8000, 8008, 8080, 8081, 8888}), detect, decode,
                    textproto.framer(starts))
