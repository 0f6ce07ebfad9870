"""Each node's `main()` (the console script): starts, spins until the launch system shuts it down, exits cleanly;
bad parameters end it with exit status 2 and a FATAL line naming the problem."""

import importlib

import pytest

from codediffuser.testing import fake_ros

MAINS = {
    "fusion_node": ("codediffuser_perception.node", {"feature_backend": "none"}),
    "codegen_node": ("codediffuser_codegen.node", {"detector": "metadata", "mask_backend": "none"}),
}
BAD = {
    "fusion_node": ("codediffuser_perception.node", {"sync_queue_size": 0}, "sync_queue_size"),
    "codegen_node": ("codediffuser_codegen.node", {"detector": "features"}, "references_dir"),
    "policy_node": ("codediffuser_policy.node", {}, "checkpoint is required"),
}


@pytest.mark.parametrize("node", sorted(MAINS))
def test_main_spins_and_shuts_down_cleanly(node):
    module_name, params = MAINS[node]
    with fake_ros(parameters={node: params}) as ros:
        module = importlib.import_module(module_name)
        ros.spin_duration_s = 0.5
        assert module.main([]) is None
        assert ros.now >= 1000.0 + 0.5
        assert not ros.graph.initialized
        assert not [r for r in ros.logs() if r.level in ("ERROR", "FATAL")]


@pytest.mark.parametrize("node", sorted(BAD))
def test_bad_parameters_exit_with_status_2_and_the_reason(node):
    module_name, params, reason = BAD[node]
    with fake_ros(parameters={node: params}) as ros:
        module = importlib.import_module(module_name)
        with pytest.raises(SystemExit) as exc:
            module.main([])
        assert exc.value.code == 2
        fatal = [r.message for r in ros.logs("FATAL", node)]
        assert len(fatal) == 1
        assert reason in fatal[0]
        assert not ros.graph.initialized
