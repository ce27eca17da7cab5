"""The YANG-validated datastore: RESTCONF's reads and edits of an ETSI GS QKD 015 node, every answer
checked against the official modules, refused edits leaving nothing changed, and change callbacks that
may veto."""

from __future__ import annotations

from typing import Any

import pytest
from restconf_support import (
    APP_ID,
    APPS,
    LINK_ID,
    LINKS,
    NODE,
    NODE_ID,
    OTHER_LINK_ID,
    TYPES,
    app_path,
    assert_valid_answer,
    assert_valid_tree,
    body_of,
    is_part_of,
    link,
    link_path,
    node_tree,
    qkd_app,
)

from sdqkd.agent.datastore import ChangeKind, Datastore
from sdqkd.errors import ResourceNotFound, RestconfError

pytestmark = pytest.mark.anyio

INTERFACE_1 = f"{NODE}/qkd_interfaces/qkd_interface=1"


async def provisioned(datastore: Datastore) -> Datastore:
    """``datastore`` with a link, its performance, and an application on it."""
    await datastore.post(LINKS, body_of("qkd_link", [link()]))
    datastore.set_operational(f"{link_path()}/qkdl_performance", {"skr": 52000, "eskr": 48000})
    await datastore.post(APPS, body_of("qkd_app", [qkd_app()]))
    return datastore


@pytest.mark.parametrize(
    "path",
    [
        "",
        NODE,
        f"{NODE}/qkdn_id",
        f"{NODE}/qkdn_capabilities",
        f"{NODE}/qkd_interfaces",
        INTERFACE_1,
        f"{INTERFACE_1}/qkdi_att_point",
        f"{INTERFACE_1}/qkdi_capabilities",
        f"{INTERFACE_1}/qkdi_status",
        LINKS,
        link_path(),
        f"{link_path()}/qkdl_local",
        f"{link_path()}/qkdl_performance",
        f"{link_path()}/phys_wavelength",
        APPS,
        app_path(),
        f"{app_path()}/app_qos",
    ],
)
async def test_every_get_answer_validates_against_the_official_modules(
    datastore: Datastore, model: Any, path: str
) -> None:
    await provisioned(datastore)
    whole = datastore.tree()
    assert_valid_tree(model, whole)
    everything = datastore.get(path or None)
    assert_valid_answer(model, whole, path, everything)
    try:
        assert_valid_answer(model, whole, path, datastore.get(path or None, "config"), config_only=True)
    except ResourceNotFound:
        assert path.endswith(("qkdi_status", "qkdl_performance"))  # state only
    try:
        state = datastore.get(path or None, "nonconfig")
    except ResourceNotFound:
        return  # configuration only
    # yangson cannot validate state with the keys of its configured list entries: a part of a valid answer
    assert is_part_of(state, everything)


async def test_a_get_answers_with_the_module_qualified_node(datastore: Datastore) -> None:
    assert datastore.get(f"{INTERFACE_1}/qkdi_att_point") == {
        "etsi-qkd-sdn-node:qkdi_att_point": {"device": "switch-norte", "port": 3}
    }
    assert datastore.get(f"{NODE}/qkdn_id") == {"etsi-qkd-sdn-node:qkdn_id": NODE_ID}
    (entry,) = datastore.get(INTERFACE_1)["etsi-qkd-sdn-node:qkd_interface"]  # an entry: an array of one
    assert entry["qkdi_id"] == 1
    assert list(datastore.get(None)) == ["ietf-restconf:data"]


async def test_an_absent_non_presence_container_reads_as_empty(datastore: Datastore) -> None:
    assert datastore.get(LINKS) == {"etsi-qkd-sdn-node:qkd_links": {}}


async def test_reading_what_is_not_there_is_resource_not_found(datastore: Datastore) -> None:
    with pytest.raises(ResourceNotFound):
        datastore.get(link_path())
    with pytest.raises(ResourceNotFound):
        datastore.get(f"{NODE}/qkd_interfaces/qkd_interface=9")
    with pytest.raises(ResourceNotFound):
        datastore.get(f"{link_path()}/qkdl_local")


async def test_content_config_hides_the_operational_state(datastore: Datastore) -> None:
    await provisioned(datastore)
    node = datastore.get(NODE, "config")["etsi-qkd-sdn-node:qkd_node"]
    assert "qkdn_status" not in node
    for interface in node["qkd_interfaces"]["qkd_interface"]:
        assert "qkdi_status" not in interface
        assert interface["qkdi_att_point"]
    (stored_link,) = node["qkd_links"]["qkd_link"]
    assert "qkdl_performance" not in stored_link  # it holds state only
    assert stored_link["phys_wavelength"] == "59"
    with pytest.raises(ResourceNotFound):
        datastore.get(f"{INTERFACE_1}/qkdi_status", "config")


async def test_content_nonconfig_shows_the_state_and_the_keys_that_locate_it(datastore: Datastore) -> None:
    await provisioned(datastore)
    node = datastore.get(NODE, "nonconfig")["etsi-qkd-sdn-node:qkd_node"]
    assert node == {
        "qkdn_status": f"{TYPES}OPERATING",
        "qkd_interfaces": {
            "qkd_interface": [
                {"qkdi_id": 1, "qkdi_status": f"{TYPES}ENABLED"},
                {"qkdi_id": 2, "qkdi_status": f"{TYPES}DISABLED"},
            ]
        },
        "qkd_links": {"qkd_link": [{"qkdl_id": LINK_ID, "qkdl_performance": {"skr": 52000, "eskr": 48000}}]},
    }


async def test_depth_counts_the_target_as_level_one(datastore: Datastore) -> None:
    assert datastore.get(NODE, depth=1) == {"etsi-qkd-sdn-node:qkd_node": {}}
    node = datastore.get(NODE, depth=2)["etsi-qkd-sdn-node:qkd_node"]
    assert node["qkdn_id"] == NODE_ID
    assert node["qkd_interfaces"] == {}
    interfaces = datastore.get(f"{NODE}/qkd_interfaces", depth=2)["etsi-qkd-sdn-node:qkd_interfaces"]
    assert interfaces == {"qkd_interface": [{"qkdi_id": 1}, {"qkdi_id": 2}]}  # entries keep their keys
    assert datastore.get(None, depth=1) == {"ietf-restconf:data": {}}


async def test_a_link_is_created_replaced_merged_and_deleted(datastore: Datastore, model: Any) -> None:
    created = await datastore.post(LINKS, body_of("qkd_link", [link()]))
    assert created == link_path()
    assert datastore.get(link_path()) == body_of("qkd_link", [link()])

    assert await datastore.put(link_path(), body_of("qkd_link", [link(phys_wavelength="40")])) is False
    assert datastore.get(f"{link_path()}/phys_wavelength") == body_of("phys_wavelength", "40")

    await datastore.patch(link_path(), body_of("qkd_link", [{"qkdl_id": LINK_ID, "qkdl_enable": False}]))
    stored = datastore.get(link_path())["etsi-qkd-sdn-node:qkd_link"][0]
    assert stored == link(phys_wavelength="40", qkdl_enable=False)
    assert_valid_tree(model, datastore.tree())

    await datastore.delete(link_path())
    with pytest.raises(ResourceNotFound):
        datastore.get(link_path())
    assert datastore.tree() == node_tree() | {
        NODE: node_tree()[NODE] | {"qkd_links": {}}  # the emptied container stays, as an empty object
    }


async def test_put_creates_a_link_that_does_not_exist(datastore: Datastore) -> None:
    assert await datastore.put(link_path(OTHER_LINK_ID), body_of("qkd_link", [link(OTHER_LINK_ID)])) is True
    assert datastore.get(link_path(OTHER_LINK_ID)) == body_of("qkd_link", [link(OTHER_LINK_ID)])


async def test_an_application_is_created_merged_and_deleted(datastore: Datastore) -> None:
    await datastore.post(LINKS, body_of("qkd_link", [link()]))
    assert await datastore.post(APPS, body_of("qkd_app", [qkd_app()])) == app_path()
    qos = {"max_bandwidth": 512000}
    await datastore.patch(app_path(), body_of("qkd_app", [{"app_id": APP_ID, "app_qos": qos}]))
    await datastore.patch(
        f"{app_path()}/client_app_id=urn%3Asdqkd%3Asae%3Abob", body_of("client_app_id", ["urn:sdqkd:sae:bob"])
    )
    await datastore.post(app_path(), body_of("client_app_id", ["urn:sdqkd:sae:carol"]))
    stored = datastore.get(app_path())["etsi-qkd-sdn-node:qkd_app"][0]
    assert stored["app_qos"] == qkd_app()["app_qos"] | qos  # merged, not replaced
    assert stored["client_app_id"] == ["urn:sdqkd:sae:bob", "urn:sdqkd:sae:carol"]
    await datastore.delete(f"{app_path()}/client_app_id=urn:sdqkd:sae:bob")
    assert datastore.get(f"{app_path()}/client_app_id") == body_of("client_app_id", ["urn:sdqkd:sae:carol"])
    await datastore.delete(app_path())
    with pytest.raises(ResourceNotFound):
        datastore.get(app_path())


async def test_post_of_an_existing_link_is_data_exists(datastore: Datastore) -> None:
    await datastore.post(LINKS, body_of("qkd_link", [link()]))
    with pytest.raises(RestconfError) as caught:
        await datastore.post(LINKS, body_of("qkd_link", [link(phys_wavelength="40")]))
    assert caught.value.error_tag == "data-exists"
    assert datastore.get(f"{link_path()}/phys_wavelength") == body_of("phys_wavelength", "59")


async def test_patch_and_delete_of_a_missing_link_are_data_missing(datastore: Datastore) -> None:
    with pytest.raises(RestconfError) as patched:
        await datastore.patch(link_path(), body_of("qkd_link", [link()]))
    with pytest.raises(RestconfError) as deleted:
        await datastore.delete(link_path())
    assert patched.value.error_tag == deleted.value.error_tag == "data-missing"
    assert datastore.tree() == node_tree()


async def test_a_write_below_a_missing_entry_is_not_found(datastore: Datastore) -> None:
    with pytest.raises(ResourceNotFound):
        await datastore.put(f"{link_path()}/phys_wavelength", body_of("phys_wavelength", "40"))


INVALID_LINK_WRITES = [
    pytest.param(
        "invalid-value",
        "invalid-type",
        link(qkdl_remote={"qkdn_id": "not-a-uuid", "qkdi_id": 7}),
        id="bad-uuid",
    ),
    pytest.param("unknown-element", None, link(qkdl_colour="blue"), id="unknown-leaf"),
    pytest.param("invalid-value", None, link(qkdl_performance={"skr": 1}), id="read-only-leaf"),
    pytest.param("invalid-value", "invalid-type", link(phys_qkd_role=f"{TYPES}PHYS"), id="wrong-identity"),
    pytest.param("invalid-value", "invalid-type", link(phys_wavelength="1550.12"), id="wavelength-in-nm"),
    pytest.param("invalid-value", None, link(OTHER_LINK_ID), id="key-differs-from-uri"),
    pytest.param("invalid-value", None, {k: v for k, v in link().items() if k != "qkdl_id"}, id="no-key"),
    pytest.param(
        "invalid-value", "member-not-allowed", link(qkdl_type=f"{TYPES}VIRT"), id="phys-leaf-on-virt"
    ),
]


@pytest.mark.parametrize(("tag", "app_tag", "entry"), INVALID_LINK_WRITES)
async def test_an_invalid_link_is_refused_and_nothing_changes(
    datastore: Datastore, tag: str, app_tag: str | None, entry: dict[str, Any]
) -> None:
    await datastore.post(LINKS, body_of("qkd_link", [link()]))
    before = datastore.tree()
    for write in (datastore.put, datastore.patch):
        with pytest.raises(RestconfError) as caught:
            await write(link_path(), body_of("qkd_link", [entry]))
        assert caught.value.error_tag == tag
        assert caught.value.error_path
        if app_tag is not None:
            assert caught.value.error_app_tag == app_tag
        assert datastore.tree() == before


@pytest.mark.parametrize(
    ("body", "tag"),
    [
        ([link()], "malformed-message"),
        ({"etsi-qkd-sdn-node:qkd_link": [link()], "etsi-qkd-sdn-node:qkd_app": []}, "malformed-message"),
        ({"qkd_link": [link()]}, "invalid-value"),  # top-level members are module-qualified
        (body_of("qkd_app", [qkd_app()]), "invalid-value"),  # not the target
        (body_of("qkd_link", link()), "invalid-value"),  # an entry is an array of one
        (body_of("qkd_link", [link(), link()]), "invalid-value"),
    ],
)
async def test_a_body_that_is_not_the_target_is_refused(datastore: Datastore, body: Any, tag: str) -> None:
    with pytest.raises(RestconfError) as caught:
        await datastore.put(link_path(), body)
    assert caught.value.error_tag == tag
    assert datastore.tree() == node_tree()


@pytest.mark.parametrize(
    ("write", "path", "body"),
    [
        ("put", f"{INTERFACE_1}/qkdi_status", body_of("qkdi_status", f"{TYPES}FAILED")),
        ("patch", INTERFACE_1, body_of("qkd_interface", [{"qkdi_id": 1, "qkdi_status": f"{TYPES}FAILED"}])),
        ("delete", f"{NODE}/qkdn_status", None),
        ("post", f"{link_path()}/qkdl_performance", body_of("skr", 1)),
    ],
)
async def test_clients_never_write_operational_state(
    datastore: Datastore, write: str, path: str, body: Any
) -> None:
    await datastore.post(LINKS, body_of("qkd_link", [link()]))
    before = datastore.tree()
    with pytest.raises(RestconfError, match="config false") as caught:
        await (datastore.delete(path) if body is None else getattr(datastore, write)(path, body))
    assert caught.value.error_tag == "invalid-value"
    assert datastore.tree() == before


async def test_a_mandatory_leaf_cannot_be_deleted(datastore: Datastore) -> None:
    with pytest.raises(RestconfError, match="qkdn_id") as caught:
        await datastore.delete(f"{NODE}/qkdn_id")
    assert caught.value.error_type == "application"
    assert datastore.tree() == node_tree()


async def test_writes_name_a_data_resource(datastore: Datastore) -> None:
    with pytest.raises(RestconfError) as on_datastore:
        await datastore.delete("")
    assert on_datastore.value.error_tag == "operation-not-supported"
    with pytest.raises(RestconfError, match="one entry") as on_list:
        await datastore.put(f"{LINKS}/qkd_link", body_of("qkd_link", [link()]))
    assert on_list.value.error_tag == "invalid-value"


async def test_a_replace_keeps_the_operational_state_of_what_survives(datastore: Datastore) -> None:
    await provisioned(datastore)
    await datastore.put(link_path(), body_of("qkd_link", [link(phys_wavelength="40")]))
    assert datastore.get(f"{link_path()}/qkdl_performance") == body_of(
        "qkdl_performance", {"skr": 52000, "eskr": 48000}
    )
    interfaces = node_tree()[NODE]["qkd_interfaces"]["qkd_interface"]
    config_only = [{k: v for k, v in i.items() if k != "qkdi_status"} for i in interfaces[:1]]
    await datastore.put(f"{NODE}/qkd_interfaces", body_of("qkd_interfaces", {"qkd_interface": config_only}))
    assert datastore.get(f"{INTERFACE_1}/qkdi_status") == body_of("qkdi_status", f"{TYPES}ENABLED")
    with pytest.raises(ResourceNotFound):  # interface 2 was replaced away, its state with it
        datastore.get(f"{NODE}/qkd_interfaces/qkd_interface=2")


async def test_change_callbacks_see_each_committed_change(datastore: Datastore) -> None:
    seen: list[tuple[ChangeKind, str, Any, Any]] = []

    async def record(kind: ChangeKind, path: str, old: Any, new: Any) -> None:
        assert datastore.get(path if new is not None else None)  # committed before the callback
        seen.append((kind, path, old, new))

    datastore.on_change(record)
    await datastore.post(LINKS, body_of("qkd_link", [link()]))
    await datastore.put(link_path(), body_of("qkd_link", [link(phys_wavelength="40")]))
    await datastore.patch(f"{link_path()}/qkdl_local", body_of("qkdl_local", {"qkdi_id": 2}))
    await datastore.delete(link_path())
    assert seen == [
        ("create", link_path(), None, link()),
        ("replace", link_path(), link(), link(phys_wavelength="40")),
        (
            "merge",
            f"{link_path()}/qkdl_local",
            {"qkdn_id": NODE_ID, "qkdi_id": 1},
            {"qkdn_id": NODE_ID, "qkdi_id": 2},
        ),
        (
            "delete",
            link_path(),
            link(phys_wavelength="40", qkdl_local={"qkdn_id": NODE_ID, "qkdi_id": 2}),
            None,
        ),
    ]


async def test_a_veto_rolls_the_change_back_and_stops_later_callbacks(datastore: Datastore) -> None:
    later: list[str] = []

    async def devices_refuse(kind: ChangeKind, path: str, old: Any, new: Any) -> None:
        raise RestconfError("application", "resource-denied", "the module cannot tune to channel 59")

    datastore.on_change(devices_refuse)
    datastore.on_change(lambda kind, path, old, new: later.append(path))
    with pytest.raises(RestconfError, match="channel 59") as caught:
        await datastore.post(LINKS, body_of("qkd_link", [link()]))
    assert caught.value.error_tag == "resource-denied"
    assert datastore.tree() == node_tree()
    assert later == []


async def test_a_veto_of_a_replace_restores_the_old_value(datastore: Datastore) -> None:
    await provisioned(datastore)
    before = datastore.tree()

    def refuse(kind: ChangeKind, path: str, old: Any, new: Any) -> None:
        raise RestconfError("application", "operation-failed", "no")

    remove = datastore.on_change(refuse)
    with pytest.raises(RestconfError):
        await datastore.put(link_path(), body_of("qkd_link", [link(phys_wavelength="40")]))
    assert datastore.tree() == before
    remove()
    await datastore.put(link_path(), body_of("qkd_link", [link(phys_wavelength="40")]))


async def test_a_failing_callback_rolls_back_too(datastore: Datastore) -> None:
    def broken(kind: ChangeKind, path: str, old: Any, new: Any) -> None:
        raise RuntimeError("driver bug")

    datastore.on_change(broken)
    with pytest.raises(RuntimeError, match="driver bug"):
        await datastore.post(LINKS, body_of("qkd_link", [link()]))
    assert datastore.tree() == node_tree()


async def test_owner_updates_made_during_a_vetoed_change_are_kept(datastore: Datastore) -> None:
    async def fail_the_interface(kind: ChangeKind, path: str, old: Any, new: Any) -> None:
        datastore.set_operational(f"{INTERFACE_1}/qkdi_status", f"{TYPES}FAILED")
        raise RestconfError("application", "resource-denied", "interface 1 failed")

    datastore.on_change(fail_the_interface)
    with pytest.raises(RestconfError):
        await datastore.post(LINKS, body_of("qkd_link", [link()]))
    with pytest.raises(ResourceNotFound):
        datastore.get(link_path())
    assert datastore.get(f"{INTERFACE_1}/qkdi_status") == body_of("qkdi_status", f"{TYPES}FAILED")


async def test_the_owner_sets_operational_state_validated_as_a_whole(
    datastore: Datastore, model: Any
) -> None:
    datastore.set_operational(f"{NODE}/qkdn_status", f"{TYPES}DOWN")
    datastore.set_operational(f"{NODE}/qkd_interfaces/qkd_interface=3", {"qkdi_type": f"{TYPES}CV-QKD"})
    assert datastore.get(f"{NODE}/qkd_interfaces/qkd_interface=3") == body_of(
        "qkd_interface",
        [{"qkdi_type": f"{TYPES}CV-QKD", "qkdi_id": 3}],  # the key comes from the path
    )
    before = datastore.tree()
    with pytest.raises(RestconfError) as caught:
        datastore.set_operational(f"{NODE}/qkdn_status", f"{TYPES}ENABLED")  # an interface status
    assert caught.value.error_tag == "invalid-value"
    assert datastore.tree() == before
    datastore.set_operational(f"{NODE}/qkd_interfaces/qkd_interface=3", None)
    assert_valid_tree(model, datastore.tree())


async def test_the_initial_tree_must_be_valid(model: Any) -> None:
    tree = node_tree()
    tree[NODE]["qkdn_id"] = "node-norte"
    with pytest.raises(RestconfError, match="qkdn_id"):
        Datastore(model, tree)
    with pytest.raises(RestconfError) as caught:
        Datastore(model, {"etsi-qkd-sdn-node:qkd_nodes": {}})
    assert caught.value.error_tag == "unknown-element"


STATISTICS = {
    "statistics": [
        {"end_time": "2024-06-11T09:30:01Z", "start_time": "2024-06-11T09:30:00Z", "consumed_bits": 512},
        {"end_time": "2024-06-11T09:30:02Z", "start_time": "2024-06-11T09:30:01Z", "consumed_bits": 0},
    ]
}


async def test_the_owner_sets_several_nodes_at_once_or_none_of_them(datastore: Datastore, model: Any) -> None:
    await provisioned(datastore)
    datastore.set_operational_many(
        [
            (f"{link_path()}/qkdl_performance", {"skr": 52000, "eskr": 40000}),
            (f"{app_path()}/app_statistics", STATISTICS),
        ]
    )
    assert datastore.get(f"{link_path()}/qkdl_performance") == body_of(
        "qkdl_performance", {"skr": 52000, "eskr": 40000}
    )
    assert datastore.get(f"{app_path()}/app_statistics") == body_of("app_statistics", STATISTICS)
    assert_valid_tree(model, datastore.tree())
    before = datastore.tree()
    with pytest.raises(RestconfError):
        datastore.set_operational_many(
            [
                (f"{link_path()}/qkdl_performance", {"skr": 1, "eskr": 1}),
                (f"{NODE}/qkdn_status", f"{TYPES}ENABLED"),  # an interface status: refused, so is the first
            ]
        )
    assert datastore.tree() == before


async def test_a_controller_rewriting_an_app_keeps_its_statistics(datastore: Datastore) -> None:
    await provisioned(datastore)
    datastore.set_operational(f"{app_path()}/app_statistics", STATISTICS)
    await datastore.put(app_path(), body_of("qkd_app", [qkd_app(app_priority=5)]))
    assert datastore.get(f"{app_path()}/app_statistics") == body_of("app_statistics", STATISTICS)


async def test_a_controller_cannot_write_app_statistics(datastore: Datastore) -> None:
    await provisioned(datastore)
    with pytest.raises(RestconfError):
        await datastore.put(app_path(), body_of("qkd_app", [qkd_app(app_statistics=STATISTICS)]))
