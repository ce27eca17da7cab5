"""sdqkd's own ETSI GS QKD 015 YANG modules (package data in ``sdqkd/etsi015/yang``) against the official ones
in ``../shared/specs/etsi-gs-qkd-015``: the same schema (nodes, types, keys, defaults, conditions, identities,
notifications), the same verdict on every document of a corpus of good and bad instance documents, and none
of the official text.

The tests that need the official modules skip without them, and fail in CI (``CI=true``).
"""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import pytest
from conformance_support import (
    MODULE_FILES,
    OFFICIAL_DIR,
    PACKAGED_DIR,
    YANG_LIBRARY,
    Document,
    corpus,
    identity_facts,
    require_official_modules,
    schema_facts,
    verdict,
)
from yangson import DataModel

import sdqkd

CORPUS = corpus()

# The human-readable text of a YANG module: what must be sdqkd's own words.
_TEXT = re.compile(
    r"\b(?:description|organization|contact|reference)\s+(?:\"((?:[^\"\\]|\\.)*)\"|'([^']*)')", re.S
)


def _modules_state(yang_dir: Path) -> list[dict[str, str]]:
    library = json.loads((yang_dir / YANG_LIBRARY).read_text())
    return sorted(library["ietf-yang-library:modules-state"]["module"], key=lambda m: m["name"])


def _texts(path: Path) -> list[str]:
    return [" ".join((double or single).split()) for double, single in _TEXT.findall(path.read_text())]


# The corpus ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("document", CORPUS, ids=lambda d: d.id)
def test_each_document_gets_its_expected_verdict_from_the_packaged_modules(
    packaged_model: DataModel, document: Document
) -> None:
    found = verdict(packaged_model, document)
    if document.valid:
        assert found == "valid"
    else:
        assert found.startswith("invalid: ")
        assert document.because in found


@pytest.mark.parametrize("document", CORPUS, ids=lambda d: d.id)
def test_each_document_gets_the_same_verdict_from_the_official_modules(
    packaged_model: DataModel, official_model: DataModel, document: Document
) -> None:
    official = verdict(official_model, document)
    assert (official == "valid") is document.valid  # the corpus means what it says under the official model
    assert verdict(packaged_model, document) == official  # and the packaged model agrees, for the same reason


def test_the_corpus_has_valid_and_invalid_documents_of_every_kind() -> None:
    counts = collections.Counter((document.kind, document.valid) for document in CORPUS)
    assert len(CORPUS) >= 40
    for kind in ("data", "config", "notification"):
        assert counts[kind, True] >= 2
        assert counts[kind, False] >= 4
    assert all(document.because for document in CORPUS if not document.valid)


def test_the_corpus_has_a_valid_and_an_invalid_instance_of_every_notification(
    packaged_model: DataModel,
) -> None:
    notifications = {f"{child.ns}:{child.name}" for child in packaged_model.schema.children if child.name}
    notifications.discard("etsi-qkd-sdn-node:qkd_node")
    instances = collections.defaultdict(set)
    for document in CORPUS:
        if document.kind == "notification":
            instances[next(iter(document.body))].add(document.valid)
    assert len(notifications) == 11  # sdqkdn_* (9), alarm, event
    for name in notifications:
        assert instances[name] == {True, False}, f"{name}: the corpus needs a valid and an invalid instance"


# The modules as package data ----------------------------------------------------------------------------


def test_the_packaged_modules_lie_in_the_sdqkd_package() -> None:
    assert PACKAGED_DIR.parent.parent == Path(sdqkd.__file__).resolve().parent
    assert sorted(p.name for p in PACKAGED_DIR.iterdir() if p.suffix == ".yang") == sorted(MODULE_FILES)
    assert (PACKAGED_DIR / YANG_LIBRARY).is_file()


def test_the_packaged_library_implements_the_node_and_its_types_and_imports_the_ietf_types() -> None:
    conformance = {m["name"]: m["conformance-type"] for m in _modules_state(PACKAGED_DIR)}
    assert conformance == {
        "etsi-qkd-sdn-node": "implement",
        "etsi-qkd-node-types": "implement",  # else its identities do not resolve
        "ietf-yang-types": "import",
        "ietf-inet-types": "import",
    }


def test_each_packaged_module_declares_what_its_library_entry_says(packaged_model: DataModel) -> None:
    for entry in _modules_state(PACKAGED_DIR):
        module = packaged_model.schema_data.modules[entry["name"], entry["revision"]]
        assert module.main_module == (entry["name"], entry["revision"])
        assert module.xml_namespace == entry["namespace"]
        assert module.path == str(PACKAGED_DIR / f"{entry['name']}.yang")


# The packaged schema is the official one ----------------------------------------------------------------


def test_the_packaged_library_lists_the_official_modules_revisions_and_namespaces() -> None:
    require_official_modules()
    assert _modules_state(PACKAGED_DIR) == _modules_state(OFFICIAL_DIR)


def test_the_packaged_schema_has_the_official_nodes_types_keys_defaults_and_conditions(
    packaged_model: DataModel, official_model: DataModel
) -> None:
    packaged, official = schema_facts(packaged_model), schema_facts(official_model)
    assert sorted(packaged) == sorted(official)
    for path, facts in official.items():
        assert packaged[path] == facts, path


def test_the_packaged_schema_digest_is_the_official_one_but_for_the_descriptions(
    packaged_model: DataModel, official_model: DataModel
) -> None:
    def without_descriptions(value: object) -> object:
        if isinstance(value, dict):
            return {k: without_descriptions(v) for k, v in value.items() if k != "description"}
        if isinstance(value, list):
            return [without_descriptions(v) for v in value]
        return value

    packaged = without_descriptions(json.loads(packaged_model.schema_digest()))
    official = without_descriptions(json.loads(official_model.schema_digest()))
    assert packaged == official


def test_the_packaged_identities_derive_from_the_official_bases(
    packaged_model: DataModel, official_model: DataModel
) -> None:
    assert identity_facts(packaged_model) == identity_facts(official_model)


def test_the_packaged_modules_have_the_official_prefixes(
    packaged_model: DataModel, official_model: DataModel
) -> None:
    for name, revision in official_model.schema_data.modules:
        official = official_model.schema_data.modules[name, revision]
        assert packaged_model.schema_data.modules[name, revision].prefix_map == official.prefix_map


def test_the_packaged_modules_borrow_no_text_from_the_official_ones() -> None:
    require_official_modules()
    packaged = " ".join(" ".join(path.read_text().split()) for path in sorted(PACKAGED_DIR.glob("*.yang")))
    for name in MODULE_FILES:
        official_file = OFFICIAL_DIR / name
        texts = [text for text in _texts(official_file) if len(text.split()) >= 4]
        assert texts, f"no text found in {official_file}: the pattern no longer reads it"
        borrowed = [text for text in texts if text in packaged]
        assert not borrowed, f"{name}: official text in the packaged modules: {borrowed}"
        # and no packaged module is a copy with its text rewritten: the layout is different too
        assert (PACKAGED_DIR / name).read_text() != official_file.read_text()
