"""Built-in tasks; importing this package registers them with `codediffuser_sim.env.register_task`.

Adding a task (stow_books.py is the shortest complete example):

1. A pure `sample_layout(seed) -> list[SceneObject]`: objects first (`layout.sample_colored_objects`), then
   targets, ids from 1 (0 is the segmentation background), categories and attributes from
   docs/instructions.md, positions in the world frame. Add the task's grammar to `codediffuser_sim.instructions.TASKS` (and the offline generator).
2. A `TaskEnv` subclass decorated with `@register_task("name")`, with `sample_layout =
   staticmethod(sample_layout)`, `load_objects` (primitives via `build_actor`, returning the actor of each
   instance id), `placed(object_id, target_id)` (the success check) and `max_duration_s`.
3. `expert_plan() -> PickPlace` (grasp / place key-frames) for the scripted demonstrations.
4. Import the module below; the contract tests in test/test_sim_env.py then cover it once its name is
   added to their `TASKS`, and benchmarks/expert.py measures its expert.
"""

from codediffuser_sim.tasks import hang_mug, pack_battery, stow_books

__all__ = ["hang_mug", "pack_battery", "stow_books"]
