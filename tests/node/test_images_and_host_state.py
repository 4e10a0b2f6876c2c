"""Pure parts of the real node, without a node: the OCI image layout the images are packed in, image cache keys,
and how a host snapshot reports what changed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from jupyternetes.dev import hostnet, images


def _layout(tmp_path: Path) -> tuple[Path, str, bytes]:
    layer_bytes = b"not really a tar, but bytes are bytes"
    layer = tmp_path / "layer.tar"
    layer.write_bytes(layer_bytes)
    layout = tmp_path / "layout"
    digest = images.write_layout(layout, [layer], {"User": "1000:100", "Cmd": ["x"]},
                                 "localhost/jupyternetes/notebook:abc")
    return layout, digest, layer_bytes


class TestImageLayout:
    def test_every_blob_is_stored_under_its_own_digest(self, tmp_path: Path) -> None:
        layout, _, _ = _layout(tmp_path)
        for blob in (layout / "blobs" / "sha256").iterdir():
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name

    def test_the_index_names_the_image_for_containerd_and_points_at_the_manifest(self, tmp_path: Path) -> None:
        layout, digest, _ = _layout(tmp_path)
        index = json.loads((layout / "index.json").read_text())
        (entry,) = index["manifests"]
        assert entry["digest"] == digest
        assert entry["annotations"] == {"io.containerd.image.name": "localhost/jupyternetes/notebook:abc",
                                        "org.opencontainers.image.ref.name": "abc"}
        assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}

    def test_the_config_lists_the_layer_as_its_diff_id_and_keeps_the_runtime_settings(self, tmp_path: Path) -> None:
        layout, digest, layer_bytes = _layout(tmp_path)
        blobs = layout / "blobs" / "sha256"
        manifest = json.loads((blobs / digest.removeprefix("sha256:")).read_text())
        layer_digest = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
        assert manifest["layers"] == [{"mediaType": images.LAYER_MEDIA_TYPE, "digest": layer_digest,
                                       "size": len(layer_bytes)}]
        config = json.loads((blobs / manifest["config"]["digest"].removeprefix("sha256:")).read_text())
        assert config["rootfs"] == {"type": "layers", "diff_ids": [layer_digest]}
        assert config["config"] == {"User": "1000:100", "Cmd": ["x"]}
        assert (config["os"], config["architecture"]) == ("linux", "amd64")


class TestImageKeys:
    def test_the_key_changes_with_any_input_and_names_the_reference(self) -> None:
        recipe = images.notebook_recipe()
        bumped = images.Recipe(recipe.name, {**recipe.inputs, "pip": {**recipe.inputs["pip"], "jupyterlab": "0.0.1"}},
                               recipe.config)
        assert bumped.key != recipe.key
        assert recipe.reference == f"localhost/jupyternetes/notebook:{recipe.key}"

    def test_the_notebook_image_pins_the_hubs_own_jupyterhub_and_runs_as_a_numeric_non_root_user(self) -> None:
        import importlib.metadata

        recipe = images.notebook_recipe()
        assert recipe.inputs["pip"]["jupyterhub"] == importlib.metadata.version("jupyterhub")
        # runAsNonRoot can only be verified for a numeric user.
        assert recipe.config["User"] == "1000:100"

    def test_an_image_pinned_by_digest_keeps_its_repository(self) -> None:
        image = images.Image("notebook", "localhost/jupyternetes/notebook:abc", "sha256:" + "0" * 64, Path("x"))
        assert image.pinned == "localhost/jupyternetes/notebook@sha256:" + "0" * 64


class TestHostSnapshot:
    def test_an_unchanged_host_has_no_differences(self) -> None:
        snapshot = hostnet.Snapshot(rules={"iptables": {"filter": ["-P FORWARD ACCEPT"]}}, links=["lo", "eth0"],
                                    sysctls={"net/ipv4/ip_forward": "0"}, paths={})
        assert snapshot.differences(snapshot) == []

    def test_every_kind_of_change_is_named(self, tmp_path: Path) -> None:
        created = tmp_path / "created"
        before = hostnet.Snapshot(rules={"iptables": {"filter": ["-P FORWARD ACCEPT", "-A FORWARD -j OLD"]}},
                                  ipsets=[], nft_tables=["ip filter"], links=["lo"], lo_addresses=["127.0.0.1/8"],
                                  sysctls={"net/ipv4/ip_forward": "0"}, paths={str(created): False})
        created.mkdir()
        after = hostnet.Snapshot(rules={"iptables": {"filter": ["-P FORWARD ACCEPT", "-N KUBE-ROUTER-FORWARD"]}},
                                 ipsets=["kube-router-pods"], nft_tables=["ip filter", "ip kube-proxy"],
                                 links=["lo", "jnt0"], lo_addresses=["127.0.0.1/8", "10.254.0.1/32"],
                                 sysctls={"net/ipv4/ip_forward": "1"}, paths={str(created): True})
        assert before.differences(after) == [
            "iptables -t filter: -N KUBE-ROUTER-FORWARD",
            "iptables -t filter: missing -A FORWARD -j OLD",
            "ipset kube-router-pods",
            "nft table ip kube-proxy",
            "link jnt0",
            "address 10.254.0.1/32 on lo",
            "sysctl net/ipv4/ip_forward=1 (was 0)",
            f"path {created} exists",
        ]

    def test_a_snapshot_survives_the_trip_to_disk(self, tmp_path: Path) -> None:
        snapshot = hostnet.Snapshot(rules={"ip6tables": {"mangle": ["-P FORWARD ACCEPT"]}}, ipsets=["a"],
                                    links=["lo"], sysctls={"x": "1"}, paths={"/nowhere": False})
        snapshot.save(tmp_path / "snap.json")
        assert hostnet.Snapshot.load(tmp_path / "snap.json") == snapshot
