"""Constants the board's tests share (a module of its own: `from conftest import ...` may find another folder's
conftest, see tests/testsupport.py)."""

BOARD = "/release-board"  # where the plugin mounts the board
RELEASE = "board_release"  # the test approval Dag's id, and its spec (a copy of heart_disease's) in the project
