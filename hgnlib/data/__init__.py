"""Data: readers and writers of the standard Human3.6M files (``h36m``), the tensor dataset that training
consumes (``dataset``), the embedded synthetic dataset (``synth``, with its motion families in ``motions``) and
the statistics that compare a dataset with Human3.6M (``stats``)."""
