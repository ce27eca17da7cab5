"""The public API of each package, frozen: a change here is a deliberate API change, made on purpose."""

from __future__ import annotations

import importlib

import pytest

PUBLIC_API = {
    "sdqkd.physics": {
        "Detection",
        "DetectorModel",
        "FiniteSizeSecurity",
        "KeyRateResult",
        "NoiseBudget",
        "RamanModel",
        "backward_raman_power_w",
        "covariance_matrix_gg02",
        "equivalent_untrusted_channel",
        "evaluate_key_rate",
        "forward_raman_power_w",
        "holevo_bound",
        "holevo_g",
        "key_bits_per_symbol",
        "loss_db",
        "mutual_information",
        "noise_budget",
        "plob_bound",
        "privacy_amplification_penalty",
        "raman_excess_noise_snu",
        "raman_photons_per_mode",
        "snr",
        "symplectic_eigenvalues",
        "tgw_bound",
        "transmittance",
        "transmittance_from_loss_db",
        "worst_case_channel",
    },
    "sdqkd.topology": {
        "BUILTIN_NAMES",
        "ClassicalChannel",
        "DeviceProfile",
        "Direction",
        "Fibre",
        "FibreAttachment",
        "Node",
        "OpticalSwitch",
        "Provenance",
        "QkdLink",
        "QkdModule",
        "Role",
        "SwitchAttachment",
        "SwitchPort",
        "Topology",
        "load_topology",
        "parse_topology",
    },
    "sdqkd.planning": {
        "DEFAULT_TARGET_RATE_BPS",
        "ClassicalLoad",
        "LinkBudget",
        "LinkPlan",
        "Margins",
        "Plan",
        "co_propagation_margins",
        "key_rate_for",
        "link_budget",
        "plan_topology",
    },
    "sdqkd.etsi015": {
        "DWDM_CHANNELS",
        "NODE_MODULE",
        "QKD_NODE",
        "SDQKD_NAMESPACE",
        "TYPES_MODULE",
        "InterfaceAddress",
        "InterfaceStatus",
        "LinkStatus",
        "LinkType",
        "ModuleRole",
        "NodeStatus",
        "PhysicalLink",
        "identity",
        "link_entry",
        "link_qkdl_id",
        "load_data_model",
        "packaged_yang_dir",
        "parse_link",
        "qkdi_id",
        "qkdn_id",
        "virtual_qkdl_id",
        "yang_dir",
    },
    "sdqkd.errors": {
        "AdmissionRefused",
        "AgentUnavailable",
        "ConfigError",
        "ControlPlaneError",
        "DeviceError",
        "Forbidden",
        "KeyDeliveryError",
        "KeyExhausted",
        "KeyRequestInvalid",
        "KeyServiceUnavailable",
        "NotFound",
        "PhysicsError",
        "PkiError",
        "ResourceNotFound",
        "RestconfError",
        "SdqkdError",
        "TopologyError",
        "Unauthenticated",
        "Unauthorized",
        "Unavailable",
        "UnknownResource",
        "UnknownTopology",
    },
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC_API))
def test_the_public_api_is_what_the_package_exports(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert set(module.__all__) == PUBLIC_API[module_name]
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.{name} is exported but not defined"


def test_every_sdqkd_error_derives_from_the_root() -> None:
    errors = importlib.import_module("sdqkd.errors")
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.SdqkdError)
