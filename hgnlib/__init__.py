"""hgnlib: a reproduction of Hierarchical Graph Networks for 3D Human Pose Estimation (Li et al., BMVC 2021).

Where each concept lives:

- ``skeleton``: the Human3.6M 32- and 17-joint layouts, left/right, body parts, actions, subjects.
- ``cameras``: camera parameters, world <-> camera, projection with distortion, screen normalisation.
- ``body``: one body-model interface, ``anny`` (open, default) and ``smpl`` (user-supplied file).
- ``data``: readers of the standard Human3.6M files, the embedded synthetic dataset generator, and the
  tensor dataset that training consumes.
- ``paths`` and ``profiles``: where data lives, and the one definition of the run profiles.
- ``fileio`` and ``errors``: atomic writes, and the errors users see.
- ``cli``: the ``hgn`` command, thin over the modules above.

Data flows one way: files -> readers -> tensors -> model -> metrics -> cache -> notebooks -> reports.
"""
__version__ = "0.1.0"
