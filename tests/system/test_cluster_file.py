"""The cluster file (actors/system/cluster.py): written by `encore cluster init`, read back, and
refused clearly when it is wrong."""

import pytest

from actors.errors import ConfigError
from actors.ops.cli import main
from actors.system.cluster import init, load


def test_init_writes_a_cluster_and_its_key_that_read_back(tmp_path):
    path = init([("h1", "10.88.0.1"), ("h2", "10.88.0.2"), ("h3", "10.88.0.3")], tmp_path / "c.toml", port=19600)
    cluster = load(path)
    assert (cluster.primary, cluster.standbys, cluster.ack) == ("h1", ("h2",), "all")
    assert cluster.host("h3").address == "10.88.0.3" and cluster.host("h2").port == 19600
    assert cluster.role_of("h1") == "primary" and cluster.role_of("h2") == "standby"
    assert cluster.key_file == (tmp_path / "c.key").resolve() and (tmp_path / "c.key").stat().st_mode & 0o077 == 0
    with pytest.raises(ConfigError, match="never replaced"):
        init([("h1", "10.88.0.1"), ("h2", "10.88.0.2")], path)
    with pytest.raises(ConfigError, match="not in"):
        cluster.host("h9")


@pytest.mark.parametrize("change, says", [
    (('address = "10.88.0.2"', 'address = "nowhere"'), "is not an IP address"),
    (('primary = "h1"', 'primary = "h7"'), "is not one of the hosts"),
    (('standbys = ["h2"]', 'standbys = ["h1"]'), "must be one of the other hosts"),
    (('ack = "all"', 'ack = "some"'), "ack"),
    (("port = 19500", "port = 80"), "1024 to 65535"),
    (("[log]", "[lag]"), "no [log] table"),
])
def test_a_wrong_cluster_file_is_refused_saying_what_and_where(tmp_path, change, says):
    path = init([("h1", "10.88.0.1"), ("h2", "10.88.0.2")], tmp_path / "c.toml")
    path.write_text(path.read_text().replace(*change, 1))
    with pytest.raises(ConfigError, match=says.replace("[", r"\[")):
        load(path)


def test_the_command_line_writes_one_and_refuses_a_host_without_an_address(tmp_path, capsys):
    assert main(["cluster", "init", "--host", "a=10.88.0.1", "--host", "b=10.88.0.2", "--out",
                 str(tmp_path / "c.toml")]) == 0
    assert load(tmp_path / "c.toml").primary == "a"
    assert main(["cluster", "init", "--host", "a", "--host", "b=10.88.0.2", "--out", str(tmp_path / "d.toml")]) == 2
    assert "NAME=ADDRESS" in capsys.readouterr().err
    assert main(["start", "--cluster", str(tmp_path / "c.toml"), "--data", str(tmp_path / "data")]) == 2
    assert "--host NAME" in capsys.readouterr().err
