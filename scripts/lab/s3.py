"""An S3-compatible store on loopback: ``moto_server`` as a real HTTP endpoint.

moto keeps objects in process memory; it is a stand-in for S3's API, not for
its speed or durability. It serves byte ranges as S3 does (:mod:`scripts.lab.s3_ranges`).
barman-cloud, boto3 and our scripts talk to it with ``--endpoint-url`` exactly as they
would to AWS.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

from scripts.processes import ManagedProcess, Supervisor, free_port, wait_for_port

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Credentials and region for the emulator. Not secrets: moto accepts anything.
LAB_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "idp-dr-lab",
    "AWS_SECRET_ACCESS_KEY": "idp-dr-lab-not-a-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@dataclass
class S3Server:
    port: int
    process: ManagedProcess

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls, supervisor: Supervisor, workspace: Path, *, port: int | None = None, timeout: float = 30
    ) -> S3Server:
        port = port or free_port()
        log_path = workspace / "moto_server.log"
        proc = supervisor.start(
            "moto_server",
            [sys.executable, "-m", "scripts.lab.s3_server", "-H", "127.0.0.1", "-p", str(port)],
            log_path=log_path,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")},
            cwd=REPO_ROOT,
        )
        wait_for_port("127.0.0.1", port, timeout=timeout, proc=proc.popen, what="moto_server", log_path=log_path)
        return cls(port=port, process=proc)

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=LAB_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LAB_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=LAB_AWS_ENV["AWS_DEFAULT_REGION"],
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    def create_bucket(self, name: str, *, versioning: bool = True) -> None:
        s3 = self.client()
        s3.create_bucket(Bucket=name)
        if versioning:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
