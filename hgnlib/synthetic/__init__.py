"""The open synthetic data, apart from the readers of real datasets in :mod:`hgnlib.data`: the embedded dataset
generator (``synth``: anny bodies performing the 15 Human3.6M actions, written in the Human3.6M file formats and
seen through the real Human3.6M cameras, with a detector-like 2D file), its motion families (``motions``), and
pybullet's DeepMimic motion capture as Human3.6M joints seen by unseen cameras, the open Table 7 test set
(``mocap``)."""
