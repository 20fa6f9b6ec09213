"""Config dataclasses → flags → configs: one generic path for every system, its errors, and the
config files a work dir keeps."""

import dataclasses
import os

import pytest
from absl import flags

from tfgrad.config import from_dict
from tfgrad.flags import define_system_flags, flag_fields, system_config_from_flags
from tfgrad.systems.cgir import CGIRConfig, CGIRTrainConfig, RetrievalModelConfig
from tfgrad.systems.dvbpr import DVBPRConfig, PurchaseDataConfig

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse(*args):
    values = flags.FlagValues()
    define_system_flags(values)
    values(["prog", *args])
    return values


def test_every_config_field_is_a_flag_with_help():
    values = parse()
    for config_class in (CGIRConfig, DVBPRConfig):
        for field in flag_fields(config_class):
            assert field.flag in values, field.flag
            assert not values[field.flag].help.endswith(f".{field.path[-1]}."), field.flag
    # Renamed flags keep their old names.
    assert {"model", "max_eval_queries", "catalogue_seed"} <= set(values)


def test_given_flags_override_defaults_and_the_model_picks_the_system():
    system, config = system_config_from_flags(parse(
        "--model=tirg", "--alignment_weight=20", "--hidden_dims=8,4", "--user_batch_size=7",
        "--catalogue_seed=3", "--max_eval_queries=9"))
    assert system.name == "cgir"
    assert config == CGIRConfig(
        model=RetrievalModelConfig(kind="tirg", alignment_weight=20, hidden_dims=(8, 4)),
        train=CGIRTrainConfig(user_batch_size=7),
        synthetic=dataclasses.replace(CGIRConfig().synthetic, seed=3),
        eval=dataclasses.replace(CGIRConfig().eval, max_queries=9))


def test_flags_not_given_take_the_systems_own_defaults():
    system, config = system_config_from_flags(parse("--model=bprmf", "--hm_dir=/data/hm"))
    assert system.name == "dvbpr"
    assert (config.name, config.dataset, config.model.kind) == ("dvbpr_hm", "hm", "bprmf")
    assert config.data.hm_dir == "/data/hm"


@pytest.mark.parametrize("args, named", [
    (("--model=cgir", "--precision=mixed_float16"), "--precision"),
    (("--model=cgir", "--image_size=96", "--top_k=3"), "--image_size, --top_k"),
    (("--model=dvbpr", "--hm_dir=x", "--alignment_weight=2"), "--alignment_weight"),
])
def test_a_flag_of_another_system_is_an_error_naming_it(args, named):
    with pytest.raises(ValueError, match=f"{named} do\\(es\\) not apply to system"):
        system_config_from_flags(parse(*args))


def test_bad_list_values_are_named():
    with pytest.raises(ValueError, match="--hidden_dims must be a comma-separated list of ints"):
        system_config_from_flags(parse("--hidden_dims=8,wide"))


def test_dataset_mismatches_are_named():
    with pytest.raises(ValueError, match="recommends from purchases and photos"):
        system_config_from_flags(parse("--model=dvbpr", "--dataset=synthetic"))
    with pytest.raises(ValueError, match="has no attributes to walk"):
        system_config_from_flags(parse("--model=cgir", "--dataset=interactions"))
    with pytest.raises(ValueError, match="needs --hm_dir"):
        system_config_from_flags(parse("--model=dvbpr"))


@pytest.mark.parametrize("config", [
    CGIRConfig(model=RetrievalModelConfig(kind="dscmr", hidden_dims=(3, 2))),
    DVBPRConfig(data=PurchaseDataConfig(hm_dir="h")),
])
def test_configs_round_trip_through_their_dict(config):
    assert from_dict(type(config), dataclasses.asdict(config)) == config


def test_a_corrupt_config_names_the_unknown_field():
    raw = dataclasses.asdict(CGIRConfig())
    raw["model"]["colour"] = 1
    with pytest.raises(ValueError, match="unknown RetrievalModelConfig field\\(s\\): colour"):
        from_dict(CGIRConfig, raw)


@pytest.mark.parametrize("flagfile", sorted(
    name for name in os.listdir(os.path.join(REPO, "configs")) if name.endswith(".cfg")))
def test_every_shipped_flagfile_makes_a_valid_config(flagfile, monkeypatch):
    # Flagfiles name each other relative to the repository, as the README runs them.
    monkeypatch.chdir(REPO)
    system, config = system_config_from_flags(parse(f"--flagfile=configs/{flagfile}"))
    assert flagfile.startswith(system.name)
    assert config.work_dir == f"runs/{config.name}"


def test_reevaluation_replaces_given_flags_of_nested_sections_only():
    from tfgrad.flags import replace_given

    config = CGIRConfig(model=RetrievalModelConfig(latent_dim=16))
    changed = replace_given(config, parse("--decoding=greedy", "--evenness_weight=0",
                                          "--latent_dim=99"), ("eval",))
    assert changed.eval.decoding == "greedy"
    assert changed.eval.gradual == dataclasses.replace(config.eval.gradual, evenness_weight=0.0)
    # Flags outside the evaluation section are not re-evaluation settings.
    assert changed.model == config.model
