from __future__ import annotations

from agentrun.tools.docstring import parse_docstring


def test_empty() -> None:
    assert parse_docstring(None).description == ""
    assert parse_docstring("   ").params == {}


def test_google_args_are_taken_out_of_the_description() -> None:
    doc = """Post a message.

        Longer explanation.

        Args:
            channel (str): Where to post,
                e.g. #general.
            text: The message.

        Returns:
            The message id.
        """
    parsed = parse_docstring(doc)
    assert parsed.params == {"channel": "Where to post, e.g. #general.", "text": "The message."}
    assert (
        parsed.description
        == "Post a message.\n\nLonger explanation.\n\nReturns:\n    The message id."
    )


def test_rest_params_and_types_are_taken_out() -> None:
    doc = """Resize an image.

    :param path: The image,
        relative to the workspace.
    :param int width: Pixels.
    :type path: str
    :returns: nothing
    """
    parsed = parse_docstring(doc)
    assert parsed.params == {"path": "The image, relative to the workspace.", "width": "Pixels."}
    assert parsed.description == "Resize an image.\n\n:returns: nothing"


def test_other_sections_and_words_stay() -> None:
    parsed = parse_docstring("Args are not a section here.\n\nNote: kept.")
    assert parsed.params == {}
    assert parsed.description == "Args are not a section here.\n\nNote: kept."
