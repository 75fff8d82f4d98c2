"""The `recsys` command line with the network replaced by httpx.MockTransport: configuration, tables, JSON, errors."""

import json
import stat

import httpx
import pytest
from click.testing import CliRunner
from recsys_client.cli import State, cli

ME = {"tenant": {"name": "Acme", "slug": "acme", "plan": {"name": "team"}},
      "api_key": {"name": "ci", "prefix": "abc", "scopes": ["recommend", "manage"]}, "user": None}  # fmt: skip
ANSWER = {"model": "recs", "version": 2, "user_id": "u1", "fallback": None, "request_id": "r1",
          "items": [{"item_id": "sku-1", "score": 0.91}, {"item_id": "sku-7", "score": 0.5}]}  # fmt: skip


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    path = tmp_path / "conf" / "config.json"
    monkeypatch.setenv("RECSYS_CONFIG", str(path))
    monkeypatch.delenv("RECSYS_BASE_URL", raising=False)
    monkeypatch.delenv("RECSYS_API_KEY", raising=False)
    return path


def _invoke(args, handler, **kwargs):
    requests = []

    def record(request):
        requests.append(request)
        return handler(request)

    state = State(transport=httpx.MockTransport(record))
    result = CliRunner().invoke(cli, args, obj=state, **kwargs)
    return result, requests


def test_configure_saves_the_url_and_key_readable_by_the_owner_only(config_file, monkeypatch):
    result, seen = _invoke(["configure"], lambda r: httpx.Response(200, json=ME), input="http://api.test\nsecret-key\n")
    assert result.exit_code == 0, result.output
    assert "tenant Acme" in result.output and "secret-key" not in result.output  # the key is not echoed
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert json.loads(config_file.read_text()) == {"base_url": "http://api.test", "api_key": "secret-key"}
    assert seen[0].headers["Authorization"] == "Api-Key secret-key"

    # Later commands use the saved settings.
    result, requests = _invoke(["whoami"], lambda r: httpx.Response(200, json=ME))
    assert result.exit_code == 0 and "Acme" in result.output
    assert str(requests[0].url) == "http://api.test/api/v1/tenant"


def test_a_config_file_others_can_read_is_refused(config_file):
    config_file.parent.mkdir()
    config_file.write_text(json.dumps({"base_url": "http://api.test", "api_key": "k"}))
    config_file.chmod(0o644)
    result, requests = _invoke(["whoami"], lambda r: httpx.Response(200, json=ME))
    assert result.exit_code == 1 and "chmod 600" in result.output and requests == []


def test_the_environment_wins_over_the_config_file(config_file, monkeypatch):
    config_file.parent.mkdir()
    config_file.write_text(json.dumps({"base_url": "http://old.test", "api_key": "old"}))
    config_file.chmod(0o600)
    monkeypatch.setenv("RECSYS_BASE_URL", "http://new.test")
    monkeypatch.setenv("RECSYS_API_KEY", "new")
    result, requests = _invoke(["whoami"], lambda r: httpx.Response(200, json=ME))
    assert result.exit_code == 0
    assert requests[0].url.host == "new.test" and requests[0].headers["Authorization"] == "Api-Key new"


def test_without_settings_it_says_how_to_give_them(config_file):
    result, _ = _invoke(["whoami"], lambda r: httpx.Response(200, json=ME))
    assert result.exit_code == 2 and "recsys configure" in result.output


def test_recommendations_print_as_a_table_or_as_the_api_json(config_file, monkeypatch):
    monkeypatch.setenv("RECSYS_BASE_URL", "http://api.test")
    monkeypatch.setenv("RECSYS_API_KEY", "k")
    result, requests = _invoke(["recommend", "recs", "u1", "-k", "2", "--exclude", "a,b", "--category", "shoes"],
                               lambda r: httpx.Response(200, json=ANSWER))  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["RANK", "ITEM_ID", "SCORE"] and lines[1].split() == ["1", "sku-1", "0.91"]
    params = requests[0].url.params
    assert (params["k"], params["exclude"], params["category"]) == ("2", "a,b", "shoes")

    for args in (["--json", "recommend", "recs", "u1"], ["recommend", "recs", "u1", "--json"]):
        result, _ = _invoke(args, lambda r: httpx.Response(200, json=ANSWER))
        assert json.loads(result.stdout) == ANSWER


def test_an_api_error_is_one_line_with_its_details_and_exit_status_1(config_file, monkeypatch):
    monkeypatch.setenv("RECSYS_BASE_URL", "http://api.test")
    monkeypatch.setenv("RECSYS_API_KEY", "k")
    error = {"error": {"code": "invalid", "message": "k: too big.", "details": {"k": ["too big."]}}}
    result, _ = _invoke(["recommend", "recs", "u1"], lambda r: httpx.Response(400, json=error))
    assert result.exit_code == 1
    assert "error: 400 invalid: k: too big." in result.output and '"k": ["too big."]' in result.output


def test_events_are_sent_from_json_lines_or_csv_and_rejections_listed(config_file, monkeypatch, tmp_path):
    monkeypatch.setenv("RECSYS_BASE_URL", "http://api.test")
    monkeypatch.setenv("RECSYS_API_KEY", "k")
    (tmp_path / "events.jsonl").write_text('{"user_id": "u1", "item_id": "i1"}\n\n{"user_id": "u2", "item_id": ""}\n')
    (tmp_path / "events.csv").write_text("user_id,item_id,event_type\nu1,i1,view\nu2,i2,\n")
    answer = {"accepted": 1, "duplicates": 0, "rejected": [{"index": 1, "field": "item_id", "reason": "is empty"}]}

    result, requests = _invoke(["events", "send", str(tmp_path / "events.jsonl")],
                               lambda r: httpx.Response(200, json=answer))  # fmt: skip
    assert json.loads(requests[0].content)["events"] == [{"user_id": "u1", "item_id": "i1"},
                                                         {"user_id": "u2", "item_id": ""}]  # fmt: skip
    assert result.exit_code == 1 and "accepted 1" in result.output and "is empty" in result.output

    all_good = {**answer, "accepted": 2, "rejected": []}
    csv_file = str(tmp_path / "events.csv")
    result, requests = _invoke(["events", "send", csv_file], lambda r: httpx.Response(200, json=all_good))
    assert result.exit_code == 0
    assert json.loads(requests[0].content)["events"] == [{"user_id": "u1", "item_id": "i1", "event_type": "view"},
                                                         {"user_id": "u2", "item_id": "i2"}]  # fmt: skip


def test_deploy_and_versions(config_file, monkeypatch):
    monkeypatch.setenv("RECSYS_BASE_URL", "http://api.test")
    monkeypatch.setenv("RECSYS_API_KEY", "k")
    version = {"number": 1, "recipe": "ease", "is_deployed": True, "run": 4, "metrics": {"ndcg@10": 0.3}}
    result, requests = _invoke(["deploy", "recs", "1"], lambda r: httpx.Response(200, json=version))
    assert result.exit_code == 0 and requests[0].method == "POST"
    assert requests[0].url.path == "/api/v1/models/recs/versions/1/deploy"
    assert ["is_deployed", "True"] in [line.split() for line in result.output.splitlines()]


def test_versions_show_metrics_beside_the_baseline_in_one_short_cell(config_file, monkeypatch):
    monkeypatch.setenv("RECSYS_BASE_URL", "http://api.test")
    monkeypatch.setenv("RECSYS_API_KEY", "k")
    metrics = {"recipe": "ease", "metrics": {"ndcg@10": 0.1549, "hr@10": 0.3167}, "baseline": {"ndcg@10": 0.0558}}
    page = {"count": 1, "results": [{"number": 1, "recipe": "ease", "is_deployed": True, "run": 4, "metrics": metrics}]}
    result, _ = _invoke(["versions", "recs"], lambda r: httpx.Response(200, json=page))
    assert result.exit_code == 0, result.output
    assert "ndcg@10 0.155, hr@10 0.317 (baseline ndcg@10 0.0558)" in result.stdout.splitlines()[1]

    result, _ = _invoke(["versions", "recs", "--json"], lambda r: httpx.Response(200, json=page))
    assert json.loads(result.stdout)[0]["metrics"] == metrics
