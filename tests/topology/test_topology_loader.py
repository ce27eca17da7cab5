"""Loading topology files: what loads, and errors that say what is wrong and where (file:line)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from sdqkd.errors import TopologyError, UnknownTopology
from sdqkd.topology import load_topology, parse_topology

_NODES = """\
name: tiny
nodes:
  - {id: a, name: A}
  - {id: b, name: B}
"""
_FIBRE = """\
fibres:
  - id: a-b
    a: a
    b: b
    length_km: 10.0
"""
_MODULES = """\
qkd_modules:
  - {id: a-tx, node: a, role: transmitter, profile: madrid-2018, attachment: {fibre: a-b}}
  - {id: b-rx, node: b, role: receiver, profile: madrid-2018, attachment: {fibre: a-b}}
"""
_LINK = """\
qkd_links:
  - {id: a-b, transmitter: a-tx, receiver: b-rx}
"""
MINIMAL = _NODES + _FIBRE + _MODULES + _LINK


def _write(tmp_path: Path, text: str, name: str = "net.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(text: str, needle: str) -> int:
    """1-based line of the one line of ``text`` that holds ``needle``."""
    lines = [number for number, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(lines) == 1, f"{needle!r} is on lines {lines}"
    return lines[0]


def _load_error(tmp_path: Path, text: str, name: str = "net.yaml") -> TopologyError:
    path = _write(tmp_path, text, name)
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    return caught.value


# What loads ----------------------------------------------------------------------------------------


def test_a_minimal_file_loads_with_the_builtin_profile_its_modules_name(tmp_path: Path) -> None:
    topology = load_topology(_write(tmp_path, MINIMAL))
    assert [n.id for n in topology.nodes] == ["a", "b"]
    assert [f.id for f in topology.fibres] == ["a-b"]
    assert [link.id for link in topology.qkd_links] == ["a-b"]
    assert [p.id for p in topology.device_profiles] == ["madrid-2018"]
    assert topology.profile("madrid-2018") == load_topology("madrid").profile("madrid-2018")


def test_a_path_given_as_a_string_loads_too(tmp_path: Path) -> None:
    assert load_topology(str(_write(tmp_path, MINIMAL))).name == "tiny"


def test_a_file_may_define_its_own_profile_and_gets_no_builtin_one(tmp_path: Path) -> None:
    profile = """\
device_profiles:
  - id: lab-2024
    modulation_variance_snu: 6.0
    excess_noise_snu: 0.02
    efficiency: 0.5
    electronic_noise_snu: 0.1
    reconciliation_efficiency: 0.9
    symbol_rate_bd: 5.0e6
"""
    text = MINIMAL.replace("madrid-2018", "lab-2024") + profile
    topology = load_topology(_write(tmp_path, text))
    assert [p.id for p in topology.device_profiles] == ["lab-2024"]
    assert topology.profile("lab-2024").symbol_rate_bd == 5.0e6
    assert {m.profile for m in topology.qkd_modules} == {"lab-2024"}


def test_a_file_defining_a_builtin_profile_id_uses_its_own_and_changes_no_builtin(tmp_path: Path) -> None:
    builtin = load_topology("madrid").profile("madrid-2018")
    own = {**builtin.model_dump(mode="json", exclude={"provenance"}), "symbol_rate_bd": 3.0e6}
    text = MINIMAL + yaml.safe_dump({"device_profiles": [own]})
    topology = load_topology(_write(tmp_path, text))
    assert [p.symbol_rate_bd for p in topology.device_profiles] == [3.0e6]
    assert load_topology("madrid").profile("madrid-2018").symbol_rate_bd == builtin.symbol_rate_bd == 2.0e6
    assert load_topology(_write(tmp_path, MINIMAL, "plain.yaml")).profile("madrid-2018") == builtin


def test_top_level_x_keys_are_ignored_and_their_anchors_work(tmp_path: Path) -> None:
    text = """\
name: tiny
x-note: not a field of a topology
x-span: &span {attenuation_db_per_km: 0.25, extra_loss_db: 0.5}
x-ends: &ends
  - {id: a, name: A}
  - {id: b, name: B}
nodes: *ends
fibres:
  - {id: a-b, a: a, b: b, length_km: 10.0, <<: *span}
""" + (_MODULES + _LINK)
    topology = load_topology(_write(tmp_path, text))
    [fibre] = topology.fibres
    assert (fibre.attenuation_db_per_km, fibre.extra_loss_db) == (0.25, 0.5)
    assert fibre.loss_db == pytest.approx(3.0, abs=1e-12)
    assert [n.id for n in topology.nodes] == ["a", "b"]


def test_an_x_key_below_the_top_level_is_still_an_unknown_field(tmp_path: Path) -> None:
    text = MINIMAL.replace("    length_km: 10.0", "    length_km: 10.0\n    x-note: here")
    error = _load_error(tmp_path, text)
    assert "x-note" in str(error)


# Field errors name the field and its line ----------------------------------------------------------


def test_a_negative_length_on_the_second_fibre_names_it_with_file_and_line(tmp_path: Path) -> None:
    text = (
        _NODES.replace("  - {id: b, name: B}", "  - {id: b, name: B}\n  - {id: c, name: C}")
        + _FIBRE
        + "  - id: b-c\n    a: b\n    b: c\n    length_km: -1.0\n"
        + _MODULES
        + _LINK
    )
    path = _write(tmp_path, text, "metro.yaml")
    line = _line_of(text, "length_km: -1.0")
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    message = str(caught.value)
    for part in ("fibres[1]", "'b-c'", "length_km", f"metro.yaml:{line}:"):
        assert part in message
    assert caught.value.location == f"{path}:{line}"
    assert isinstance(caught.value.__cause__, ValidationError)


def test_a_channel_with_both_dwdm_channel_and_wavelength_is_refused_at_its_line(tmp_path: Path) -> None:
    channel = (
        "    classical_channels:\n"
        "      - {id: c1, dwdm_channel: 31, wavelength_nm: 1550.12, launch_power_dbm: 0, direction: a_to_b}\n"
    )
    text = _NODES + _FIBRE + channel + _MODULES + _LINK
    error = _load_error(tmp_path, text)
    message = str(error)
    for part in ("fibres[0]", "classical_channels[0]", "'c1'", "dwdm_channel", "wavelength_nm"):
        assert part in message
    assert f"net.yaml:{_line_of(text, 'id: c1')}:" in message


def test_a_misspelt_optional_field_is_named_with_its_line(tmp_path: Path) -> None:
    text = MINIMAL.replace("    length_km: 10.0", "    length_km: 10.0\n    atenuation_db_per_km: 0.3")
    error = _load_error(tmp_path, text)
    assert "fibres[0] (id 'a-b').atenuation_db_per_km" in str(error)
    assert error.location is not None
    assert error.location.endswith(f"net.yaml:{_line_of(text, 'atenuation_db_per_km')}")


def test_a_misspelt_required_field_is_named(tmp_path: Path) -> None:
    error = _load_error(tmp_path, MINIMAL.replace("length_km", "lenght_km"))
    assert "lenght_km" in str(error)


def test_a_bad_attachment_names_the_attachment_not_a_pydantic_union_member(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "b-rx, node: b, role: receiver, profile: madrid-2018, attachment: {fibre:",
        "b-rx, node: b, role: receiver, profile: madrid-2018, attachment: {cable:",
    )
    error = _load_error(tmp_path, text)
    message = str(error)
    assert "qkd_modules[1] (id 'b-rx').attachment" in message
    assert "Attachment" not in message
    assert f"net.yaml:{_line_of(text, 'cable')}:" in message


def test_a_provenance_entry_for_an_unknown_field_is_refused(tmp_path: Path) -> None:
    provenance = "    provenance:\n      colour: {kind: assumption, source: a guess}\n"
    text = _NODES + _FIBRE + provenance + _MODULES + _LINK
    message = str(_load_error(tmp_path, text))
    assert "fibres[0]" in message
    assert "colour" in message


# Cross-reference errors ----------------------------------------------------------------------------


def test_a_fibre_naming_an_unknown_node_names_that_node(tmp_path: Path) -> None:
    message = str(_load_error(tmp_path, MINIMAL.replace("    b: b", "    b: zed")))
    assert "fibre 'a-b'" in message
    assert "'zed'" in message


def test_a_link_joining_two_transmitters_is_refused(tmp_path: Path) -> None:
    message = str(_load_error(tmp_path, MINIMAL.replace("role: receiver", "role: transmitter")))
    assert "QKD link 'a-b' must join a transmitter to a receiver" in message


def test_a_link_whose_modules_share_no_fibre_is_refused(tmp_path: Path) -> None:
    text = (
        _NODES
        + "  - {id: c, name: C}\n"
        + _FIBRE
        + "  - {id: b-c, a: b, b: c, length_km: 5.0}\n"
        + _MODULES.replace(
            "role: receiver, profile: madrid-2018, attachment: {fibre: a-b}",
            "role: receiver, profile: madrid-2018, attachment: {fibre: b-c}",
        )
        + _LINK
    )
    message = str(_load_error(tmp_path, text))
    assert "QKD link 'a-b': no fibre joins module 'a-tx' at 'a' to module 'b-rx' at 'b'" in message


def test_duplicate_node_ids_are_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace("  - {id: b, name: B}", "  - {id: b, name: B}\n  - {id: a, name: Again}")
    assert "duplicate node id 'a'" in str(_load_error(tmp_path, text))


def test_a_module_naming_an_unknown_profile_is_refused(tmp_path: Path) -> None:
    message = str(_load_error(tmp_path, MINIMAL.replace("madrid-2018", "no-such-profile")))
    assert "names device profile 'no-such-profile'" in message


# Documents that are no topology --------------------------------------------------------------------


def test_invalid_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    text = MINIMAL.replace("  - {id: a, name: A}", "  - {id: a, name: A}]")
    path = _write(tmp_path, text)
    with pytest.raises(TopologyError, match="invalid YAML") as caught:
        load_topology(path)
    assert caught.value.location == f"{path}:{_line_of(text, 'name: A}]')}"
    assert isinstance(caught.value.__cause__, yaml.YAMLError)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("- {id: a, name: A}\n- {id: b, name: B}\n", id="list"),
        pytest.param("just a sentence\n", id="scalar"),
        pytest.param("", id="empty"),
    ],
)
def test_a_document_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(TopologyError, match="must hold a mapping") as caught:
        load_topology(path)
    assert caught.value.location == str(path)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        pytest.param(MINIMAL.replace("length_km: 10.0", "length_km: -1.0"), "length_km", id="field"),
        pytest.param(MINIMAL.replace("    b: b", "    b: zed"), None, id="cross-reference"),
        pytest.param(MINIMAL.replace("{id: a, name: A}", "{id: a, name: A}]"), "name: A}]", id="yaml"),
    ],
)
def test_file_errors_carry_their_location(tmp_path: Path, text: str, needle: str | None) -> None:
    error = _load_error(tmp_path, text, "where.yaml")
    assert error.location is not None
    assert error.location.startswith(str(tmp_path / "where.yaml"))
    assert str(error).startswith(f"{error.location}: ")
    if needle is not None:
        assert error.location.endswith(f":{_line_of(text, needle)}")


def test_parse_topology_names_the_document_by_its_origin() -> None:
    with pytest.raises(TopologyError) as caught:
        parse_topology(MINIMAL.replace("length_km: 10.0", "length_km: 0"), origin="inline")
    assert caught.value.location == f"inline:{_line_of(MINIMAL, 'length_km')}"


# Names that are neither a built-in nor a file -------------------------------------------------------


@pytest.mark.parametrize("spec", ["atlantis", "Madrid", "chain:-3", "missing.yaml"])
def test_an_unknown_name_or_missing_file_lists_the_builtins(tmp_path: Path, spec: str) -> None:
    target = tmp_path / spec if spec.endswith(".yaml") else spec
    with pytest.raises(UnknownTopology) as caught:
        load_topology(target)
    message = str(caught.value)
    for part in (str(target), "madrid", "chain:N", "grid:RxC"):
        assert part in message


def test_a_directory_is_no_topology_file(tmp_path: Path) -> None:
    with pytest.raises(UnknownTopology, match="no such file"):
        load_topology(tmp_path)


def test_a_module_of_an_unsupported_technology_is_refused_where_it_is_declared(tmp_path: Path) -> None:
    text = MINIMAL.replace("role: transmitter", "role: transmitter, technology: DV-QKD", 1)
    error = _load_error(tmp_path, text)
    assert "qkd_modules[0] (id 'a-tx').technology" in str(error)
    assert error.location is not None
    assert error.location.endswith(f"net.yaml:{_line_of(text, 'DV-QKD')}")
