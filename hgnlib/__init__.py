"""hgnlib: a reproduction of Hierarchical Graph Networks for 3D Human Pose Estimation (Li et al., BMVC 2021).

Where each concept lives:

- ``skeleton``: the Human3.6M 32- and 17-joint layouts, left/right, body parts, actions, subjects.
- ``cameras``: camera parameters, world <-> camera, projection with distortion, screen normalisation.
- ``body``: one body-model interface, ``anny`` (open, default) and ``smpl`` (user-supplied file).
- ``data``: readers of the standard Human3.6M files, the embedded synthetic dataset generator, and the
  tensor dataset that training consumes.
- ``data.mocap``: pybullet's DeepMimic mocap clips as Human3.6M joints, unseen cameras, the open Table 7 test set.
- ``data.mpi_inf_3dhp``: the MPI-INF-3DHP test set (user-supplied) and the scene test-set format of Table 7.
- ``graphs``: the skeletal graph, the mesh graph, heavy-edge-matching coarsening (with the authors' fake-node
  padding as an option), the chosen levels G_M^{C-1} and G_M^C and the dense-to-coarse mesh mappings.
- ``fitting``: the body model fitted to 3D joints (the paper's pseudo-ground-truth procedure); the coarse-mesh
  pseudo-ground truth cache is ``data.pseudo_gt``.
- ``models``: the layers (SemGConv, GConv, non-local, fusion) with plain reference transcriptions, HGN and its
  ablation variants, SemGCN, GraphSH and the Martinez baseline, and the named configurations of Tables 2-4.
- ``losses`` (Eq. 4) and ``metrics`` (MPJPE, PA-MPJPE, MPVPE, 3DPCK, AUC; per action, joint and body part);
  ``baselines``: the mean pose and the linear 2D-to-3D map.
- ``experiments``: the training and evaluation engine: ``config`` (one experiment and its cache key), ``runs`` (the
  result cache: train, resume or load), ``train`` (the loop), ``evaluate``, ``artifacts`` (a trained model as one
  file), ``distributed`` (DDP under torchrun), ``parallel`` (runs in worker processes), ``suite`` (the paper's
  tables as configurations, with the paper's values in ``resources/paper_results.json``).
- ``tables``: our numbers next to the paper's, as the notebooks and the summary page show them.
- ``plotting`` and ``reports``: figures (ours against the paper's as gaps on one axis); batch execution of the
  notebooks and the rendered reports, whose HTML is ``report_pages`` (offline pages, one stylesheet).
- ``notebook_files``: which file holds which execution (``notebooks/``: embedded-quick outputs; ``tests/notebooks/``:
  smoke executions for nbval), the ``hgn`` kernel and normalised writing; ``browser``: the headless Chromium of
  the report pages' test.
- ``paths`` and ``profiles``: where data lives, and the one definition of the run profiles (data and recipe).
- ``fileio`` and ``errors``: atomic writes, and the errors users see.
- ``lift``: ``hgn lift``: your own 2D keypoints (COCO results JSON, .npz, .csv; COCO-17 or H36M-17) to 3D with a
  trained model file, low-score policy, JSON/npz output, PNG/GIF/MP4 rendering.
- ``export``: ``hgn export``: ONNX export of a model file, the ONNX Runtime equivalence check, CPU latency.
- ``cli``: the ``hgn`` command, thin over the modules above.

Data flows one way: files -> readers -> tensors -> model -> metrics -> cache -> notebooks -> reports.
"""
__version__ = "0.1.0"
