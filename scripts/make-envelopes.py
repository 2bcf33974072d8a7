#!/usr/bin/env python3
"""Regenerate the Kinesis test envelopes and the generated "bad" record fixtures.

    python3 scripts/make-envelopes.py           # (re)write events/envelopes/* and the generated events/bad/* files
    python3 scripts/make-envelopes.py --check   # exit 1 if anything on disk differs from what would be written

Standard library only, deterministic: fixed base sequence numbers (derived from each envelope's name), arrival
timestamps derived from the payloads' own timestamps (segments have none, so they use a fixed table below), fixed
ContactIds for generated records (derived from the file name) and gzip mtime 0. Running it twice produces
byte-identical files.

Inputs:  events/raw/{agent,ctr,segments}/*.json  (hand-maintained, pretty-printed)
         events/bad/*                            (hand-maintained small files + the generated ones below)
         events/bad/MANIFEST.json                (hand-maintained; checked here for completeness)
Outputs: events/envelopes/*.json
         events/bad/{GENERATED_BAD}              (large or binary files that are impractical to edit by hand)

Envelope "data" is the base64 of:
  * good records (events/raw/**): the compact single-line JSON re-serialisation of the raw file, which is what
    Connect puts on the stream (key order and values are preserved, non-ASCII stays UTF-8);
  * bad records (events/bad/*): the file's bytes, unchanged.
"""
from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
RAW = EVENTS / "raw"
BAD = EVENTS / "bad"
ENV = EVENTS / "envelopes"

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"
STREAMS = {
    "ctr": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/connect-ctr",
    "agent": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/connect-agent-events",
    "segments": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/connect-contact-lens",
}
SHARD = "shardId-000000000000"
MAX_FILE_BYTES = 1_100_000  # keep every fixture file <= 1.1 MB

# Contact Lens segment records carry no timestamp of their own; these are the (fixed) times Kinesis received them.
SEGMENT_ARRIVALS = {
    "voice-started.json": "2026-11-02T08:05:15.204Z",
    "voice-segments-1.json": "2026-11-02T08:05:30.611Z",
    "voice-segments-negative.json": "2026-11-02T08:06:34.087Z",
    "voice-segments-category.json": "2026-11-02T08:07:51.470Z",
    "voice-completed.json": "2026-11-02T08:12:41.902Z",
    "voice-failed.json": "2026-11-02T09:23:48.315Z",
    "chat-started.json": "2026-11-02T09:05:21.006Z",
    "chat-segments.json": "2026-11-02T09:06:41.372Z",
    "chat-completed.json": "2026-11-02T09:24:31.540Z",
}
AGENT_DELAY = 0.35  # seconds between EventTimestamp and arrival in Kinesis
CTR_DELAY = 1.6     # seconds between LastUpdateTimestamp and arrival in Kinesis


# ----------------------------------------------------------------------------------------------------- helpers
def det_uuid(name: str) -> str:
    """A version-4-shaped UUID derived from a name, so generated records get stable ContactIds."""
    return str(uuid.UUID(bytes=hashlib.sha256(("fixture:" + name).encode()).digest()[:16], version=4))


def epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()


def compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def pretty(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def load_raw(rel: str):
    return json.loads((RAW / rel).read_text(encoding="utf-8"))


def base_ctr(name: str) -> dict:
    """voice-inbound.json with a fresh, name-derived ContactId (so generated records never collide with it)."""
    ctr = copy.deepcopy(load_raw("ctr/voice-inbound.json"))
    ctr["ContactId"] = det_uuid(name)
    return ctr


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_field(num: int, payload: bytes) -> bytes:  # length-delimited protobuf field
    return varint((num << 3) | 2) + varint(len(payload)) + payload


# ------------------------------------------------------------------------------------- generated bad records
def gen_ctr_huge_attributes() -> bytes:
    """A valid CTR whose Attributes section is just under the documented 32 KB limit."""
    ctr = base_ctr("ctr-huge-attributes.json")
    attrs = dict(ctr["Attributes"])
    filler = "lorem ipsum dolor sit amet consectetur adipiscing elit " * 5  # 280 chars
    i = 0
    while True:
        trial = dict(attrs, **{f"bulkAttribute{i:03d}": filler[: 250]})
        if len(compact(trial)) > 32_000:
            break
        attrs = trial
        i += 1
    ctr["Attributes"] = dict(sorted(attrs.items()))
    size = len(compact(ctr["Attributes"]))
    assert 31_000 < size <= 32_768, size
    return pretty(ctr)


def gen_record_1mb() -> bytes:
    """A valid single-line CTR of exactly 1,000,000 bytes (Kinesis allows 1 MiB of data per record); the bulk is an
    unknown top-level field, as a future Connect field might be."""
    ctr = base_ctr("record-1mb.json")
    ctr["FutureBulkField"] = ""
    overhead = len(compact(ctr)) + 1  # + trailing newline
    ctr["FutureBulkField"] = ("0123456789abcdef" * 70_000)[: 1_000_000 - overhead]
    data = compact(ctr) + b"\n"
    assert len(data) == 1_000_000, len(data)
    return data


def gen_deeply_nested() -> bytes:
    return b"[" * 10_000 + b"]" * 10_000 + b"\n"


def gen_huge_array() -> bytes:
    """A valid CTR carrying an unknown field with 100,000 array elements."""
    ctr = base_ctr("huge-array.json")
    ctr["UnknownHugeArray"] = list(range(100_000))
    return compact(ctr) + b"\n"


def gen_empty() -> bytes:
    return b""


def gen_non_utf8() -> bytes:
    """A CTR written by a producer that encodes Latin-1 instead of UTF-8 (0xF3 for 'ó', 0xFC for 'ü')."""
    ctr = base_ctr("non-utf8.bin")
    ctr["Attributes"]["city"] = "München"
    return json.dumps(ctr, separators=(",", ":"), ensure_ascii=False).encode("latin-1")


def gen_utf16_bom() -> bytes:
    ctr = base_ctr("utf16-bom.json")
    return b"\xff\xfe" + (json.dumps(ctr, indent=2, ensure_ascii=False) + "\n").encode("utf-16-le")


def gen_kpl_aggregated() -> bytes:
    """A genuine KPL aggregated record: magic F3 89 9A C2, protobuf AggregatedRecord with two inner records
    (voice-outbound and callback CTRs), then the MD5 of the protobuf. Connect never aggregates; Lambda does not
    de-aggregate."""
    inner = [compact(load_raw("ctr/voice-outbound.json")), compact(load_raw("ctr/callback.json"))]
    keys = [json.loads(b)["ContactId"] for b in inner]
    msg = b"".join(pb_field(1, k.encode()) for k in keys)
    for i, data in enumerate(inner):
        rec = varint((1 << 3) | 0) + varint(i) + pb_field(3, data)
        msg += pb_field(3, rec)
    return b"\xf3\x89\x9a\xc2" + msg + hashlib.md5(msg).digest()


def gen_nul_bytes() -> bytes:
    return b"\x00" * 256


def gen_bom_prefixed_ctr() -> bytes:
    return b"\xef\xbb\xbf" + pretty(base_ctr("bom-prefixed-ctr.json"))


def gen_gzip_compressed() -> bytes:
    """A CTR that a misconfigured producer gzip-compressed before putting it on the stream."""
    return gzip.compress(compact(base_ctr("gzip-compressed.bin")), compresslevel=9, mtime=0)


def gen_overlong_utf8() -> bytes:
    """A CTR containing an overlong (invalid) UTF-8 sequence C0 AF inside an attribute value."""
    ctr = base_ctr("overlong-utf8.bin")
    ctr["Attributes"]["path"] = "OVERLONG"
    return compact(ctr).replace(b"OVERLONG", b"..\xc0\xafetc")


GENERATED_BAD = {
    "ctr-huge-attributes.json": gen_ctr_huge_attributes,
    "record-1mb.json": gen_record_1mb,
    "deeply-nested.json": gen_deeply_nested,
    "huge-array.json": gen_huge_array,
    "empty.bin": gen_empty,
    "non-utf8.bin": gen_non_utf8,
    "utf16-bom.json": gen_utf16_bom,
    "kpl-aggregated.bin": gen_kpl_aggregated,
    "nul-bytes.bin": gen_nul_bytes,
    "bom-prefixed-ctr.json": gen_bom_prefixed_ctr,
    "gzip-compressed.bin": gen_gzip_compressed,
    "overlong-utf8.bin": gen_overlong_utf8,
}


# ------------------------------------------------------------------------------------------------- envelopes
class Rec:
    """One Kinesis record to put in an envelope."""

    def __init__(self, data: bytes, partition_key: str, arrival: float, stream: str):
        self.data, self.partition_key, self.arrival, self.stream = data, partition_key, arrival, stream


def good(rel: str, stream: str | None = None) -> Rec:
    """A record from events/raw/<kind>/<file>; kind decides stream, partition key and arrival time."""
    kind, name = rel.split("/")
    obj = load_raw(rel)
    if kind == "agent":
        pk, arrival, default_stream = obj["AgentARN"], epoch(obj["EventTimestamp"]) + AGENT_DELAY, "agent"
    elif kind == "ctr":
        pk, arrival, default_stream = obj["ContactId"], epoch(obj["LastUpdateTimestamp"]) + CTR_DELAY, "ctr"
    elif kind == "segments":
        pk, arrival, default_stream = obj["ContactId"], epoch(SEGMENT_ARRIVALS[name]), "segments"
    else:
        raise ValueError(rel)
    return Rec(compact(obj), pk, arrival, stream or default_stream)


def bad(name: str, stream: str = "ctr") -> Rec:
    """A record whose data is the exact bytes of events/bad/<name>; arrival is filled in from its neighbour."""
    data = bad_bytes(name)
    pk = det_uuid("pk:" + name)
    try:
        obj = json.loads(data)
        if isinstance(obj, dict) and isinstance(obj.get("ContactId"), str) and obj["ContactId"]:
            pk = obj["ContactId"]
    except (ValueError, RecursionError):
        pass
    return Rec(data, pk, float("nan"), stream)


_bad_cache: dict[str, bytes] = {}


def bad_bytes(name: str) -> bytes:
    if name in GENERATED_BAD:
        if name not in _bad_cache:
            _bad_cache[name] = GENERATED_BAD[name]()
        return _bad_cache[name]
    return (BAD / name).read_bytes()


def seq_numbers(envelope: str, n: int) -> list[str]:
    h = hashlib.sha256(envelope.encode()).hexdigest()
    digits = str(int(h, 16))[:52]
    cur = int("4965" + digits)
    out = []
    for i in range(n):
        step = 10**20 + int(hashlib.sha256(f"{envelope}:{i}".encode()).hexdigest(), 16) % 10**19
        cur += step
        s = str(cur)
        assert len(s) == 56, s
        out.append(s)
    return out


def envelope(name: str, recs: list[Rec], sort: bool = True) -> bytes:
    # Fill in arrival times of records that have none (bad records): just after their predecessor.
    last = None
    for r in recs:
        if r.arrival != r.arrival:  # NaN
            r.arrival = (last if last is not None else epoch("2026-11-02T08:00:00.000Z")) + 0.05
        last = r.arrival
    if sort:
        recs = sorted(recs, key=lambda r: r.arrival)  # stable
    seqs = seq_numbers(name, len(recs))
    records = []
    for r, seq in zip(recs, seqs):
        records.append({
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": r.partition_key,
                "sequenceNumber": seq,
                "data": base64.b64encode(r.data).decode("ascii"),
                "approximateArrivalTimestamp": round(r.arrival, 3),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{SHARD}:{seq}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": ROLE_ARN,
            "awsRegion": REGION,
            "eventSourceARN": STREAMS[r.stream],
        })
    return (json.dumps({"Records": records}, indent=2) + "\n").encode("utf-8")


JDOE_STORY = [
    "login", "status-available", "contact-connecting", "contact-connected", "contact-on-hold", "contact-ended-acw",
    "acw-done", "status-break", "heartbeat-during-break", "status-unplanned-break", "status-available-again",
    "contact-missed-connecting", "contact-missed", "logout", "heartbeat-after-logout",
]
ASMITH_EVENTS = ["heartbeat", "chat-multi-contact", "config-change"]
CTR_ALL = [
    "voice-inbound", "voice-outbound", "transfer-a", "transfer-b", "callback", "abandoned-nulls", "chat", "task",
    "republished-v1", "republished-v2", "attributes-csat", "old-format",
]
VOICE_SEGMENTS = ["voice-started", "voice-segments-1", "voice-segments-negative", "voice-segments-category",
                  "voice-completed"]
CHAT_SEGMENTS = ["chat-started", "chat-segments", "chat-completed"]


def agent_day() -> list[Rec]:
    return [good(f"agent/{n}.json") for n in JDOE_STORY + ASMITH_EVENTS]


def ctr_batch() -> list[Rec]:
    return [good(f"ctr/{n}.json") for n in CTR_ALL]


def supervisor_agent() -> list[Rec]:
    return [good(f"agent/{n}.json") for n in
            ["login", "status-available", "contact-connecting", "contact-connected", "status-break",
             "heartbeat-during-break", "status-unplanned-break"]]


def supervisor_segments() -> list[Rec]:
    return [good(f"segments/{n}.json") for n in VOICE_SEGMENTS[:4]]


def supervisor_ctr() -> list[Rec]:
    return [good("ctr/attributes-csat.json")]


def mixed_bad() -> list[Rec]:
    # Order matters (arrival of a bad record = its predecessor's + 50 ms), so keep it unsorted by construction.
    return [
        good("ctr/voice-inbound.json"),
        bad("not-json.txt"),
        bad("empty.bin"),
        good("ctr/voice-outbound.json"),
        bad("non-utf8.bin"),
        bad("kpl-aggregated.bin"),
        good("ctr/chat.json"),
        bad("json-array.json"),
        good("ctr/transfer-a.json"),
        bad("unknown-shape.json"),
        bad("truncated-json.json"),
        good("ctr/transfer-b.json"),
        bad("ctr-missing-contactid.json"),
        bad("deeply-nested.json"),
        good("ctr/callback.json"),
        bad("trailing-garbage.json"),
        bad("utf16-bom.json"),
        good("ctr/task.json"),
    ]


ENVELOPES = {
    # name: (records factory, sort by arrival?)
    "agent-day.json": (agent_day, True),
    "agent-heartbeat-after-logout.json": (lambda: [good("agent/logout.json"), good("agent/heartbeat-after-logout.json")], True),
    "ctr-batch.json": (ctr_batch, True),
    "ctr-republished.json": (lambda: [good("ctr/republished-v1.json"), good("ctr/republished-v2.json")], True),
    "segments-voice.json": (lambda: [good(f"segments/{n}.json") for n in VOICE_SEGMENTS], True),
    "segments-voice-failed.json": (lambda: [good("segments/voice-failed.json")], True),
    "segments-chat.json": (lambda: [good(f"segments/{n}.json") for n in CHAT_SEGMENTS], True),
    "mixed-bad.json": (mixed_bad, False),
    "wrong-stream.json": (lambda: [good(f"agent/{n}.json", stream="ctr") for n in
                                   ["login", "status-available", "heartbeat", "contact-connecting"]], True),
    # one per function, for `cargo lambda invoke NAME --data-file events/envelopes/NAME.json`
    "contact-archiver.json": (ctr_batch, True),
    "agent-state.json": (agent_day, True),
    "supervisor-alerts.json": (lambda: supervisor_agent() + supervisor_segments() + supervisor_ctr(), True),
    # the same supervisor records split per stream, as Lambda really delivers them (one stream per invocation)
    "supervisor-alerts-agent-events.json": (supervisor_agent, True),
    "supervisor-alerts-segments.json": (supervisor_segments, True),
    "supervisor-alerts-ctr.json": (supervisor_ctr, True),
}


# ---------------------------------------------------------------------------------------------------- checks
def check_manifest(problems: list[str]) -> None:
    path = BAD / "MANIFEST.json"
    if not path.exists():
        problems.append("events/bad/MANIFEST.json is missing")
        return
    manifest = json.loads(path.read_text(encoding="utf-8"))
    listed = [e["file"] for e in manifest]
    on_disk = sorted({p.name for p in BAD.iterdir() if p.is_file() and p.name != "MANIFEST.json"} | set(GENERATED_BAD))
    for name in on_disk:
        if name not in listed:
            problems.append(f"MANIFEST.json does not list events/bad/{name}")
    for e in manifest:
        name = e["file"]
        if name not in on_disk:
            problems.append(f"MANIFEST.json lists missing file {name}")
            continue
        if e["expect"] not in ("valid", "invalid"):
            problems.append(f"{name}: expect must be valid|invalid")
        if e["expect"] == "valid":
            data = bad_bytes(name)
            try:
                obj = json.loads(data.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
                assert isinstance(obj, dict)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{name}: marked valid but does not parse as a JSON object ({exc})")
            if e.get("kind_if_valid") not in ("agent", "ctr", "segment"):
                problems.append(f"{name}: valid entries need kind_if_valid agent|ctr|segment")
        elif e.get("kind_if_valid") is not None or not e.get("reason_contains"):
            problems.append(f"{name}: invalid entries need kind_if_valid null and a reason_contains word")
    if listed != sorted(set(listed), key=listed.index):
        problems.append("MANIFEST.json lists a file twice")


def main(argv: list[str]) -> int:
    check_only = "--check" in argv
    outputs: dict[Path, bytes] = {}
    for name in GENERATED_BAD:
        outputs[BAD / name] = bad_bytes(name)
    for name, (factory, sort) in ENVELOPES.items():
        outputs[ENV / name] = envelope(name, factory(), sort=sort)

    problems: list[str] = []
    for path, data in outputs.items():
        if len(data) > MAX_FILE_BYTES:
            problems.append(f"{path.relative_to(ROOT)} is {len(data)} bytes (> {MAX_FILE_BYTES})")
    for raw in sorted(RAW.glob("*/*.json")):
        try:
            json.loads(raw.read_text(encoding="utf-8"))
        except ValueError as exc:
            problems.append(f"{raw.relative_to(ROOT)} is not valid JSON: {exc}")

    changed = [p for p, d in outputs.items() if not p.exists() or p.read_bytes() != d]
    if check_only:
        for p in changed:
            problems.append(f"{p.relative_to(ROOT)} is out of date (run scripts/make-envelopes.py)")
    else:
        ENV.mkdir(parents=True, exist_ok=True)
        for p in changed:
            p.write_bytes(outputs[p])
        print(f"wrote {len(changed)} file(s), {len(outputs) - len(changed)} unchanged")
    check_manifest(problems)
    for msg in problems:
        print("error:", msg, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
