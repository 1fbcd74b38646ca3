"""hgnlib: a reproduction of Hierarchical Graph Networks for 3D Human Pose Estimation (Li et al., BMVC 2021).

The paper, section by section:

- Sec. 3.1, Eq. (1) and (2), the graph convolutions: ``models.layers`` (``GConv``, ``SemGConv``; the equations head
  the module), their plain forms ``models.reference``; the non-local layer and residual block: ``models.layers``.
- Sec. 3.2, the multi-scale graphs: ``skeleton.bone_adjacency`` (G_P), ``graphs.mesh_graph`` (the mesh graph),
  ``graphs.coarsening`` and ``graphs.release_hem`` (heavy edge matching: the paper's reading and the authors'
  code), ``graphs.hierarchy`` (the chosen levels G_M^{C-1}, G_M^C, padding, dense-to-coarse mappings).
- Sec. 3.3, the network and Eq. (3), the fusion: ``models.hgn`` (HGN and its ablation variants as data),
  ``models.layers.Fusion``; the peers ``models.graphsh``, ``models.martinez``; named configurations
  ``models.registry``; how weights start ``models.initialisation``.
- Sec. 3.4, Eq. (4), the loss: ``losses``; the coarse-mesh pseudo-ground truth: ``fitting``, ``data.pseudo_gt``.
- Sec. 4.1, the recipe: ``profiles`` (every profile's data and recipe), ``experiments.train``; where the released
  code differs from the paper: ``experiments.variants``; the protocols: ``metrics``, ``experiments.evaluate``.
- Tables 1-7 and Figure 3: the rows and the paper's values in ``resources/paper_results.json`` (read by ``paper``),
  as configurations ``experiments.suite``, shown by ``tables``; notebooks 04 (Table 1), 05 (Tables 2-3),
  06 (Table 4), 07 (Figure 3), 08 (Tables 5-6), 09 (Table 7), 10 (Figures 4-5); the claims they support, judged
  against the seed spread: ``claims`` (notebook 13); how long training must be: ``experiments.convergence``
  (notebook 03).

Where each concept lives:

- ``skeleton``: the Human3.6M 32- and 17-joint layouts, left/right, body parts, actions, subjects.
- ``cameras``: camera parameters, world <-> camera, projection with distortion, screen normalisation.
- ``body``: one body-model interface, ``anny`` (open, default) and ``smpl`` (user-supplied file).
- ``data``: readers of the standard Human3.6M files, and the tensor dataset that training consumes;
  ``data.folders``: (data, profile) -> the dataset folder.
- ``synthetic``: the embedded synthetic dataset generator (``synthetic.synth``) and its motions
  (``synthetic.motions``); ``synthetic.mocap``: pybullet's DeepMimic mocap clips as Human3.6M joints, unseen
  cameras, the open Table 7 test set.
- ``data.mpi_inf_3dhp``: the MPI-INF-3DHP test set (user-supplied) and the scene test-set format of Table 7.
- ``graphs``: the skeletal graph, the mesh graph, heavy-edge-matching coarsening (with the authors' fake-node
  padding as an option), the chosen levels G_M^{C-1} and G_M^C and the dense-to-coarse mesh mappings.
- ``fitting``: the body model fitted to 3D joints (the paper's pseudo-ground-truth procedure); the coarse-mesh
  pseudo-ground truth cache is ``data.pseudo_gt``.
- ``models``: the layers (SemGConv, GConv, non-local, fusion) with plain reference transcriptions, HGN and its
  ablation variants, SemGCN, GraphSH and the Martinez baseline, and the named configurations of Tables 2-4.
- ``losses`` (Eq. 4) and ``metrics`` (MPJPE, PA-MPJPE, MPVPE, 3DPCK, AUC; per action, joint and body part);
  ``baselines``: the mean pose and the linear 2D-to-3D map.
- ``experiments``: the training and evaluation engine: ``config`` (one experiment and its cache key), ``overrides``
  (checks of recipe overrides), ``runs`` (the result cache: train, resume or load, with a run lock), ``train`` (the
  loop), ``evaluate``, ``artifacts`` (a trained model as one file), ``distributed`` (DDP under torchrun),
  ``parallel`` (suites of runs: worker processes, a shared GPU or cluster jobs, one progress bar),
  ``convergence`` (the convergence study), ``variants`` (the released code's behaviours), ``suite`` (the paper's
  tables as configurations).
- ``paper``: the paper's tables as data (its values and, per row, the run that reproduces it); ``claims``: the
  paper's claims as orderings of two rows, judged against the seed spread.
- ``fingerprint``: the meaning of code (syntax without docstrings or comments), which keys the result cache, the
  generated data, the graph cache, the pseudo-ground truth and the reports' provenance.
- ``safeload``: reading other people's files (model bundles, checkpoints, npz and SMPL pickles) without running
  their code.
- ``tables``: our numbers next to the paper's, as the notebooks and the summary page show them.
- ``plotting`` and ``reports``: figures (ours against the paper's as gaps on one axis); batch execution of the
  notebooks and the rendered reports, whose HTML is ``report_pages`` (offline pages, one stylesheet).
- ``notebook_files``: which file holds which execution (``notebooks/``: embedded-quick outputs; ``tests/notebooks/``:
  smoke executions for nbval), the ``hgn`` kernel and normalised writing; ``browser``: the headless Chromium of
  the report pages' test.
- ``paths`` and ``profiles``: where data lives, and the one definition of the run profiles (data and recipe).
- ``fileio`` and ``errors``: atomic writes, and the errors users see.
- ``lift``: ``hgn lift``: your own 2D keypoints to 3D with a trained model, one module per job: ``reading`` (COCO
  results JSON, .npz, .csv; layout detection), ``coco`` (COCO-17 -> H36M-17 and the filling of missing joints),
  ``model`` (which model file: ``resolve_model``, shared with ``hgn eval`` and ``hgn export``), ``lifting`` (the
  low-score policy, the lift, warnings), ``writing`` (JSON/npz), ``rendering`` (PNG/GIF/MP4), ``detections``
  (COCO detections from known 3D poses) and ``protocol`` (notebook 11's evaluation on clips with known truth).
- ``export``: ``hgn export``: ONNX export of a model file, the ONNX Runtime equivalence check, CPU latency.
- ``tools``: outside the library's core: ``tools.bench`` (``hgn bench``: speed and memory of the models, the fast
  layers against their plain transcriptions) and ``tools.profiling`` (what it reads from the PyTorch profiler).
- ``cli``: the ``hgn`` command, thin over the modules above.

Data flows one way: files -> readers -> tensors -> model -> metrics -> cache -> notebooks -> reports.
"""
__version__ = "0.1.0"
