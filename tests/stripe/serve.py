"""localstripe's own server (localstripe.server.app) for one test: `python serve.py PORT STATE`.

localstripe's `start()` listens on every interface (`::`) and keeps its state in
/tmp/localstripe.pickle, which every localstripe on the machine writes at once when tests run in
parallel. This runs the same application on 127.0.0.1 only, with its state in STATE (loaded again
when the file exists, so a restart keeps the objects; webhook endpoints live in memory only). It
exits when its standard input closes, so a test process that dies leaves no server behind.
"""

import logging
import os
import pickle
import sys
import threading

from aiohttp import web
from localstripe import resources, server

port, state = int(sys.argv[1]), sys.argv[2]


def dump_to_disk(self):
    with open(state, 'wb') as f:
        pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)


resources.Store.dump_to_disk = dump_to_disk
if os.path.exists(state):
    # Unpickling a Store sets its items one by one, and each writes the file again: read it
    # whole first, and write the whole store back once it is loaded.
    with open(state, 'rb') as f:
        saved = f.read()
    resources.store.update(pickle.loads(saved))
    resources.store.dump_to_disk()


def exit_when_stdin_closes():
    sys.stdin.buffer.read()
    os._exit(0)


threading.Thread(target=exit_when_stdin_closes, daemon=True).start()

logger = logging.getLogger('aiohttp.access')
logger.setLevel(logging.DEBUG)
logger.addHandler(logging.StreamHandler())
web.run_app(server.app, host='127.0.0.1', port=port, access_log=logger)
