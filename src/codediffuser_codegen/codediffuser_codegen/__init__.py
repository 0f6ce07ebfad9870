"""Code generation: VLM-written programs over the perception API, sandboxed, offline default.

Public entry points (import the submodules; this package imports nothing heavy on its own):

- `api.PerceptionAPI(cloud, detect_backend, name_backend)`: detect / sel_name / sel_pos / attend bound
  to one observation (DESIGN.md §4).
- `oracle.metadata_detector(objects)`, `oracle.match_metadata`, `oracle.with_object_metadata`: the
  simulator's embedded backends; `backends.feature_detector(references)`: the perception detector.
- `pipeline.run_instruction(text, api, writer, Sandbox())` → `InstructResult` (never raises), with
  `pipeline.OfflineWriter()` or `llm.LlmProgramWriter(llm.LlmClient(llm.LlmConfig(...)))`;
  `llm.VlmNameSelector` answers sel_name from the composite image (`composite.composite_image`).
- `pipeline.instance_attention(cloud, instances)`: attention without a mask model.
- `observation.load_observation` / `save_observation`: the saved-observation file of
  `codediffuser instruct` (`instruct.main`).
"""
