"""Data: readers and writers of the standard Human3.6M files (``h36m``), the MPI-INF-3DHP test set and the scene
test-set format (``mpi_inf_3dhp``), the tensor dataset that training consumes (``dataset``), the coarse-mesh
pseudo-ground truth (``pseudo_gt``) and the statistics that compare a dataset with Human3.6M (``stats``). The
generator of the embedded synthetic dataset and the motion-capture clips are :mod:`hgnlib.synthetic`."""
