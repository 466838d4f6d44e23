"""`minio` and `mc` for the S3 stand-in image: SeaweedFS's S3 server behind MinIO's command lines.

Only what the compose file uses:
    minio server DIR [--address :9000] [--console-address ...]  (MINIO_ROOT_USER / MINIO_ROOT_PASSWORD)
    mc ready ALIAS
    mc alias set ALIAS URL ACCESS_KEY SECRET_KEY
    mc mb [--ignore-existing|-p] ALIAS/BUCKET
Anything else exits 2 naming what the stand-in does not do.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

ALIASES = Path.home() / ".mc-standin-aliases.json"
DEFAULT_ALIASES = {"local": {"url": "http://127.0.0.1:9000", "access_key": "", "secret_key": ""}}


def refuse(what: str) -> int:
    print(f"S3 stand-in: {what} is not supported (only what cellkiosk's compose file uses)", file=sys.stderr)
    return 2


def minio(args: list[str]) -> int:
    if not args or args[0] != "server":
        return refuse(f"minio {' '.join(args)}")
    rest, data, port = args[1:], None, "9000"
    while rest:
        arg = rest.pop(0)
        if arg in ("--address", "--console-address"):
            value = rest.pop(0)
            if arg == "--address":
                port = value.rsplit(":", 1)[-1]
        elif arg.startswith("-"):
            return refuse(f"minio server {arg}")
        else:
            data = arg
    user, password = os.environ.get("MINIO_ROOT_USER"), os.environ.get("MINIO_ROOT_PASSWORD")
    if not data or not user or not password:
        print("S3 stand-in: needs `minio server DIR` and MINIO_ROOT_USER, MINIO_ROOT_PASSWORD", file=sys.stderr)
        return 2
    state = Path(tempfile.mkdtemp(prefix="weed-"))
    (state / "tmp").mkdir()
    (state / "log").mkdir()
    identity = {"name": "root", "credentials": [{"accessKey": user, "secretKey": password}]}
    identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
    (state / "s3.json").write_text(json.dumps({"identities": [identity]}))
    os.environ["TMPDIR"] = str(state / "tmp")
    cmd = [
        "weed", f"-logdir={state / 'log'}", "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=0.0.0.0",
        f"-s3.port={port}", f"-s3.config={state / 's3.json'}", f"-s3.localSocket={state / 's3.sock'}",
        "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
    ]  # fmt: skip
    print(f"S3 stand-in: SeaweedFS S3 on :{port}, data in {data}", flush=True)
    os.execvp("weed", cmd)
    return 1  # not reached


def aliases() -> dict[str, dict[str, str]]:
    return {**DEFAULT_ALIASES, **(json.loads(ALIASES.read_text()) if ALIASES.exists() else {})}


def mc(args: list[str]) -> int:
    if args[:1] == ["ready"] and len(args) == 2:
        url = aliases().get(args[1], {}).get("url")
        if not url:
            return refuse(f"alias {args[1]!r}")
        try:
            urllib.request.urlopen(url + "/", timeout=3)
        except urllib.error.HTTPError:
            pass  # answered (403 without credentials): S3 is up
        except OSError as exc:
            print(f"S3 at {url} not ready: {exc}", file=sys.stderr)
            return 1
        print(f"The cluster '{args[1]}' is ready")
        return 0
    if args[:2] == ["alias", "set"] and len(args) == 6:
        known = aliases()
        known[args[2]] = {"url": args[3].rstrip("/"), "access_key": args[4], "secret_key": args[5]}
        ALIASES.write_text(json.dumps(known))
        print(f"Added `{args[2]}` successfully.")
        return 0
    if args[:1] == ["mb"]:
        flags = [a for a in args[1:] if a.startswith("-")]
        targets = [a for a in args[1:] if not a.startswith("-")]
        if set(flags) - {"--ignore-existing", "-p"} or len(targets) != 1 or "/" not in targets[0]:
            return refuse(f"mc {' '.join(args)}")
        return make_bucket(*targets[0].split("/", 1), ignore_existing=bool(flags))
    return refuse(f"mc {' '.join(args)}")


def make_bucket(alias: str, bucket: str, ignore_existing: bool) -> int:
    import boto3
    from botocore.exceptions import ClientError

    target = aliases().get(alias)
    if target is None:
        return refuse(f"alias {alias!r}")
    client = boto3.client(
        "s3",
        endpoint_url=target["url"],
        aws_access_key_id=target["access_key"],
        aws_secret_access_key=target["secret_key"],
        region_name="us-east-1",
    )
    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if not (ignore_existing and code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")):
            print(f"mc: cannot create bucket {bucket}: {exc}", file=sys.stderr)
            return 1
    print(f"Bucket created successfully `{alias}/{bucket}`.")
    return 0


if __name__ == "__main__":
    tool, *rest = sys.argv[1:]
    sys.exit(minio(rest) if tool == "minio" else mc(rest))
