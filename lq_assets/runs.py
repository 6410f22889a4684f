"""Runs whose process is gone: found and marked failed before `lq` launches anything.

The daemon's run monitoring (dagster.yaml ``run_monitoring``) catches runs it launched. Runs that
`lq` executes in its own process (demo, ingest, optimize) carry the process id and host in their
tags (``lq/pid``, ``lq/host``); if such a run is still STARTING or STARTED while no process with that
id is alive on this host, it was killed: it is marked failed (with a message saying so) and any
concurrency slots it held are freed, so nothing waits on it.
"""

from __future__ import annotations

import os
import socket
import time

import dagster as dg

PID_TAG, HOST_TAG = "lq/pid", "lq/host"


def own_tags() -> dict[str, str]:
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark this host's `lq` runs whose process is gone as failed; returns one line per run."""
    host = socket.gethostname()
    out = []
    records = instance.get_run_records(filters=dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED], tags={HOST_TAG: host}))
    for rec in records:
        run = rec.dagster_run
        pid = run.tags.get(PID_TAG)
        if pid is None or not pid.isdigit() or int(pid) == os.getpid() or pid_alive(int(pid)):
            continue
        age = time.time() - (rec.start_time or rec.create_timestamp.timestamp())
        msg = (f"run {run.run_id[:8]} ({run.job_name}) was left {run.status.value} by process {pid}, which is gone "
               f"(started {age:.0f} s ago): marked failed")
        instance.report_run_failed(run, msg)
        free = getattr(instance.event_log_storage, "free_concurrency_slots_for_run", None)
        if free is not None:
            try:
                free(run.run_id)
            except Exception:  # storages without op concurrency
                pass
        out.append(msg)
    return out
