"""Analysis during a segment rollout compares like with like."""


def test_a_segment_rollout_compares_the_canary_with_stable_requests_of_its_segment() -> None:
    # VN houses are cheap: a VN-only canary looks "shifted" against every region's stable
    # predictions, but not against VN's own
    import numpy as np

    from shipyard.rollout.analysis import Observation, analyse
    from shipyard.rollout.spec import AnalysisSpec, FieldRef

    rng = np.random.default_rng(0)
    obs = []
    for i in range(600):
        region = ["VN", "US", "SG"][i % 3]
        level = {"VN": 1.0, "US": 3.0, "SG": 6.0}[region]
        obs.append(
            Observation(
                f"s{i}",
                float(i),
                "stable",
                2.0,
                inputs={"region": [region]},
                outputs={"prediction": [level + rng.normal(0, 0.1)]},
            )
        )
    for i in range(200):
        obs.append(
            Observation(
                f"c{i}",
                float(i),
                "canary",
                2.0,
                inputs={"region": ["VN"]},
                outputs={"prediction": [1.0 + rng.normal(0, 0.1)]},
            )
        )
    spec = AnalysisSpec()
    region = FieldRef.model_validate("feature:region")
    mixed = analyse(obs, {}, spec, since=0, until=1000, segment_by=region)
    like = analyse(obs, {}, spec, since=0, until=1000, segment_by=region, segment_values=["VN"])

    def shift(report):
        return next(
            c for c in report.criteria if c.name == "prediction_shift" and c.segment is None
        )

    assert shift(mixed).verdict == "fail"
    assert shift(like).verdict == "pass"
