"""The chaos benchmark's checks and report: pool reconciliation between the two KMEs of each QKD
link, the verdict, and the table (``benchmarks/chaos.py`` defines what each figure means)."""

from __future__ import annotations

from typing import Any


def reconcile(pools: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """For each QKD link and each owner A of blocks on it (peer B), from both KMEs'
    ``GET /api/v1/kme``: (R1) B holds at least A's ready blocks; (R2) B used no more of A's relay
    pads than A spent. A link one of whose KMEs did not answer is reported as not reconciled."""
    found = []
    by_link: dict[str, dict[str, dict[str, Any]]] = {}
    for node, body in pools.items():
        for entry in body.get("links", []):
            by_link.setdefault(entry["id"], {})[node] = entry
    for link_id, ends in sorted(by_link.items()):
        for owner, mine in sorted(ends.items()):
            peer = str(mine["peer_kme_id"])
            theirs = ends.get(peer)
            if theirs is None:
                found.append({"link": link_id, "owner": owner, "peer": peer, "ok": False, "why": "no answer"})
                continue
            r1 = theirs["blocks_held_for_peer"] >= mine["ready_blocks"]
            r2 = theirs["peer_blocks_used_for_relay"] <= mine["blocks_used_for_relay"]
            orphans = theirs["blocks_held_for_peer"] - mine["ready_blocks"] - mine["pending_blocks"]
            pads_lost = mine["blocks_used_for_relay"] - theirs["peer_blocks_used_for_relay"]
            found.append(
                {
                    "link": link_id,
                    "owner": owner,
                    "peer": peer,
                    "owner_ready_blocks": mine["ready_blocks"],
                    "owner_pending_blocks": mine["pending_blocks"],
                    "peer_held_blocks": theirs["blocks_held_for_peer"],
                    "owner_blocks_used_for_keys": mine["blocks_used_for_keys"],
                    "owner_relay_pads_spent": mine["blocks_used_for_relay"],
                    "peer_relay_pads_used": theirs["peer_blocks_used_for_relay"],
                    "orphan_blocks": orphans,
                    # B's copies of blocks A spent on keys whose enc_keys answer died with A (or
                    # that no slave claimed): what the pads of lost relay hops do not account for
                    "orphans_not_relay_pads": orphans - pads_lost,
                    "r1_held_covers_ready": r1,
                    "r2_relay_pads": r2,
                    "ok": r1 and r2,
                }
            )
    return found


def verdict(report: dict[str, Any]) -> dict[str, Any]:
    """Pass: no key lost by the KMS, none duplicated or mismatched, no second delivery, the pools
    reconcile, and the network serves again after the chaos.

    A key whose ``dec_keys`` the slave's KME committed (its database records the delivery) but whose
    answer died with that KME is not counted against the KMS: ETSI GS QKD 014 delivers a key once, and
    no KME can tell whether its answer arrived. It is reported (``keys_lost_answer_in_flight``) and
    listed under ``limits``.
    """
    totals = report["totals"]
    failures = []
    for name in ("keys_lost_by_kms", "keys_duplicated", "keys_mismatched", "second_dec_delivered"):
        if totals[name]:
            failures.append(f"{name}={totals[name]}")
    limits = []
    if totals["keys_lost_answer_in_flight"]:
        limits.append(
            f"{totals['keys_lost_answer_in_flight']} key(s) delivered by the slave's KME whose dec_keys "
            "answer never arrived (the SAE did not get them; a retry is refused: deliver-once)"
        )
    if not report["reconcile"] or not all(entry["ok"] for entry in report["reconcile"]):
        failures.append("pools do not reconcile")
    recovered = report["recovered"]
    if not (recovered["network_running"] and recovered["serving_after_settle"]):
        failures.append("the network did not recover")
    return {"pass": not failures, "failures": failures, "limits": limits}


def render_table(report: dict[str, Any]) -> str:
    """The report as plain-text tables."""
    lines = [f"chaos on madrid: {report['minutes']} min, seed {report['seed']} ({report['command']})"]
    machine = report["machine"]
    lines.append(
        f"machine: {machine['cpus']} CPUs, load average {_load(machine['loadavg_start'])} at start, "
        f"{_load(machine['loadavg_end'])} at end; network served after {report['start_s']} s, "
        f"again {report['recovered']['serving_again_after_s']} s after the chaos"
    )
    kills = report["kills"]
    lines.append(
        "kills (kill -9): "
        + ", ".join(f"{kind} {kills[kind]}" for kind in ("kme", "agent", "controller", "emulator"))
        + f", total {kills['total']} (one every {report['kill_interval_s']} s)"
    )
    lines.append(
        f"plant: {report['fibre_cuts']} fibre cuts ({report['fibre_restores']} restores), "
        f"{report['switch_moves']} switch moves, {report['plant_actions_failed']} attempts "
        "refused or unanswered (emulator down; retried a second later)"
    )
    relayed = ", ".join(f"{k} {v}" for k, v in sorted(report["keys_relayed_out"].items())) or "none"
    lines.append(f"keys relayed out (KME counters, per virtual link): {relayed}")
    columns = [
        ("pair", "pair", 26),
        ("kind", "kind", 27),
        ("enc", "enc_calls", 6),
        ("keys", "keys_delivered", 6),
        ("refused", "enc_refused_cleanly", 7),
        ("no ans", "enc_no_answer", 6),
        ("dec", "dec_calls", 6),
        ("claimed", "keys_claimed", 7),
        ("lost", "keys_lost", 5),
        ("flight", "keys_lost_answer_in_flight", 6),
        ("dup", "keys_duplicated", 4),
        ("2nd dec", "second_dec_delivered", 7),
        ("outage s", "longest_outage_s", 8),
    ]
    lines.append("")
    lines.append(" ".join(f"{title:>{width}}" for title, _, width in columns))
    for pair in report["pairs"]:
        lines.append(" ".join(f"{pair[key]!s:>{width}}" for _, key, width in columns))
    totals = report["totals"]
    lines.append(
        " ".join(
            f"{totals.get(key, 'total' if key == 'pair' else '')!s:>{width}}" for _, key, width in columns
        )
    )
    lines.append(
        f"(refused: clean ETSI 014 error answers to enc_keys; no ans: no answer, the KME was down; "
        f"2nd dec: keys a second dec_keys delivered, of {totals['second_dec_checked']} tried; "
        "flight: of the lost, keys the slave's KME delivered whose answer a kill cut off)"
    )
    lines.append("")
    lines.append(
        f"{'link':>20} {'owner':>11} {'peer':>11} {'ready':>6} {'pending':>7} {'held@peer':>9} "
        f"{'pads':>6} {'used@peer':>9} {'orphans':>7} {'non-pad':>7} ok"
    )
    for entry in report["reconcile"]:
        if "owner_ready_blocks" not in entry:
            lines.append(f"{entry['link']:>20} {entry['owner']:>11} {entry['peer']:>11} {entry['why']}")
            continue
        lines.append(
            f"{entry['link']:>20} {entry['owner']:>11} {entry['peer']:>11} {entry['owner_ready_blocks']:>6} "
            f"{entry['owner_pending_blocks']:>7} {entry['peer_held_blocks']:>9} "
            f"{entry['owner_relay_pads_spent']:>6} {entry['peer_relay_pads_used']:>9} "
            f"{entry['orphan_blocks']:>7} {entry['orphans_not_relay_pads']:>7} "
            f"{'yes' if entry['ok'] else 'NO'}"
        )
    result = report["verdict"]
    lines.append("")
    lines.append("verdict: " + ("PASS" if result["pass"] else "FAIL: " + ", ".join(result["failures"])))
    lines += [f"limit: {text}" for text in result["limits"]]
    return "\n".join(lines)


def _load(values: list[float] | tuple[float, ...]) -> str:
    return "/".join(f"{v:.2f}" for v in values)
