"""xenstored's wire protocol over Unix sockets, for the simulated host (issue 14).

``wire.py`` is the message format, ``ops.py`` the table of requests, ``server.py`` the
asyncio server that also paces the simulation.  Covered: DIRECTORY, READ, GET_PERMS, WATCH,
UNWATCH, TRANSACTION_START/END, GET_DOMAIN_PATH, WRITE, MKDIR, RM, SET_PERMS,
IS_DOMAIN_INTRODUCED, RESET_WATCHES, WATCH_EVENT and ERROR, with the special watches
``@introduceDomain``/``@releaseDomain``; every other type answers ENOSYS.
"""

from __future__ import annotations

from .ops import HANDLERS, Session, dispatch
from .server import ServerThread, XenstoredServer, serve
from .wire import XSD_ERRORS, Decoder, Message, ProtocolError, XsType, encode

__all__ = ["XenstoredServer", "ServerThread", "serve", "HANDLERS", "Session", "dispatch",
           "XsType", "XSD_ERRORS", "Message", "Decoder", "ProtocolError", "encode"]
