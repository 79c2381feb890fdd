"""The "Container images" page (docs/containers.md): the unit it shows is the one the toolkit
writes, and it says what a first user needs and cannot find elsewhere (the end-to-end tests in
tests/e2e/test_containers.py check the claims on real hosts)."""

from __future__ import annotations

import re
from pathlib import Path

from ssmenv import render
from ssmenv.config import AppConfig
from ssmenv.runtimes.container import ENGINES

SECTION = (Path(__file__).parents[2] / "docs" / "containers.md").read_text()
DIGEST = "sha256:" + "5e1f" * 16


def test_the_docs_example_unit_is_the_one_the_toolkit_writes():
    shown = re.search(r"```ini\n(.*?)```", SECTION, re.S).group(1).splitlines()
    config = AppConfig.from_data({"ssm_path": "/shop/prod", "app_name": "shop",
                                  "app_runtime": "container",
                                  "app_image": f"registry.example.com/shop@{DIGEST}"})  # fmt: skip
    unit = render.unit_files(config, names=("API_KEY", "DATABASE_URL"),
                             engine=ENGINES["podman"])["shop.service"]  # fmt: skip
    lines = unit.replace(DIGEST, "sha256:5e1f...").splitlines()
    # Every line it shows, in the unit's order (the unit has comments and more keys between).
    at = [lines.index(line) for line in shown]
    assert at == sorted(at)


def test_the_container_section_says_what_a_first_user_needs():
    needed = {
        "the digest of a tag already pushed": "skopeo inspect --format '{{.Digest}}' docker://",
        "a multi-architecture image's digest": "Its digest, the one `skopeo inspect` prints and "
        "the one to deploy, is the\nindex's: each host pulls its own platform's image",
        "a registry over plain HTTP": "/etc/containers/registries.conf.d/",
        "how to mark it insecure": "[[registry]]\nlocation = \"registry.internal:5000\"\n"
        "insecure = true",
        "how the lab does it": "The lab's container hosts have `location = \"127.0.0.1\"`",
        "the runtime's copy of the environment": "`/run/crun/<id>/config.json`, mode `0700` in a "
        "`0700` directory",
        "who else reads values": "`docker inspect` as a member of the `docker` group | **yes**",
        "ECR's permission": "`ecr:GetAuthorizationToken`",
        "the container's user": "`container_user = \"image\"`",
    }
    missing = [what for what, text in needed.items() if text not in SECTION]
    assert missing == []
