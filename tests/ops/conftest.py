"""The op tests: helpers in this folder (op_testing.py, oracles.py), one
folder of tests per operator. This conftest puts the folder on
``sys.path`` (pytest's rootdir-less import mode), so the tests of every
sub-folder import the helpers by name."""
