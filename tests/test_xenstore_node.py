"""The xenstore node, compiled (``_node``) and its plain-Python twin (``pynode``), alike.

The compiled node is not tracked by the cyclic collector, nor are its children: it refuses
anything that could lead back to a node.
"""

from __future__ import annotations

import gc

import pytest

from xenballoon.errors import InvalidType
from xenballoon.xen.xenstore import _node, pynode
from xenballoon.xen.xenstore.node import Node

TWINS = pytest.mark.parametrize("node_type", [_node.Node, pynode.Node],
                                ids=["compiled", "python"])
PERMS = ((0, 0), (3, 1))


@TWINS
def test_a_node_holds_its_value_perms_and_generation(node_type: type[Node]) -> None:
    node = node_type("v", PERMS, 5)
    assert (node.value, node.perms, node.gen, list(node.children)) == ("v", PERMS, 5, [])
    node.value, node.perms, node.gen = None, ((3, 0),), 2**40
    assert (node.value, node.perms, node.gen) == (None, ((3, 0),), 2**40)
    assert node_type(None, PERMS).gen == 0


@TWINS
def test_children_keep_the_order_they_were_added_in(node_type: type[Node]) -> None:
    node = node_type(None, PERMS)
    for name in ("b", "a", "c", "a"):
        node.add_child(name)
    node.discard_child("missing")
    assert list(node.children) == ["b", "a", "c"]
    node.discard_child("a")
    node.add_child("a")
    assert list(node.children) == ["b", "c", "a"] and "c" in node.children
    assert sorted(node.children) == ["a", "b", "c"] and len(node.children) == 3


@TWINS
def test_a_copy_has_children_of_its_own(node_type: type[Node]) -> None:
    node = node_type("v", PERMS, 9)
    leaf = node.copy()
    node.add_child("a")
    copy = node.copy()
    copy.add_child("b")
    node.discard_child("a")
    assert (copy.value, copy.perms, copy.gen, list(copy.children)) == ("v", PERMS, 9, ["a", "b"])
    assert list(node.children) == [] and list(leaf.children) == []


@TWINS
def test_every_leaf_shares_one_empty_child_collection(node_type: type[Node]) -> None:
    assert node_type(None, PERMS).children is node_type("x", PERMS).children


def test_the_compiled_node_and_its_children_are_not_tracked_by_the_collector() -> None:
    node = _node.Node("v", PERMS)
    node.add_child("a")
    assert not gc.is_tracked(node) and not gc.is_tracked(node.children)
    assert not gc.is_tracked(node.copy()) and not gc.is_tracked(node.copy().children)


@pytest.mark.parametrize(("attribute", "bad"), [
    ("value", 3), ("value", b"v"), ("value", ["v"]),
    ("perms", [(0, 0)]), ("perms", ((0, "r"),)), ("perms", ([0, 0],)), ("perms", None),
])
def test_the_compiled_node_refuses_what_could_lead_back_to_a_node(attribute: str,
                                                                   bad: object) -> None:
    node = _node.Node("v", PERMS)
    with pytest.raises(InvalidType, match=attribute[:4]):
        setattr(node, attribute, bad)
    with pytest.raises(InvalidType):
        _node.Node(*(("v", bad) if attribute == "perms" else (bad, PERMS)))
    with pytest.raises(InvalidType):
        node.add_child(3)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        node.children = {}  # type: ignore[misc]
    assert (node.value, node.perms) == ("v", PERMS)


def test_the_compiled_node_keeps_a_str_subclass_as_a_plain_str() -> None:
    class Text(str):
        pass

    node = _node.Node(Text("v"), PERMS)
    assert type(node.value) is str and node.value == "v"
    with pytest.raises(InvalidType):
        node.add_child(Text("a"))


def test_the_compiled_node_takes_its_arguments_by_keyword_too() -> None:
    node = _node.Node(value="v", perms=PERMS, gen=4)
    assert (node.value, node.gen) == ("v", 4)
    with pytest.raises(TypeError):
        _node.Node("v")  # type: ignore[call-arg]
