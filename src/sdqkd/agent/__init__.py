"""The SD-QKD node agent: the node's QKD devices behind drivers, the ETSI GS QKD 015 datastore
(``etsi-qkd-sdn-node:qkd_node``) served over RESTCONF (RFC 8040) and validated against the YANG
modules, notifications on an event stream, and the controller's writes applied to the devices."""
