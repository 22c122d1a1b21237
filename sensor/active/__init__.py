"""Optional active identification: one read-only identity request to a device the sensor has seen
serve a protocol, off by default (``settings``), per protocol a request builder (``enip``,
``s7comm``, ``modbus``, ``bacnet``, ``snmp``), the devices seen (``targets``), the exchange over a
socket read by the passive decoders (``exchange``), the local request log (``requestlog``) and the
policy that decides what may be sent and when (``policy``)."""
