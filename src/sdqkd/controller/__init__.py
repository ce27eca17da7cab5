"""The central SDN controller: node registry, topology graph, QKD link provisioning through the
node agents (ETSI GS QKD 015 over RESTCONF), application admission, alarms, northbound API."""
