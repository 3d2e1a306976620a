s/python -m appliance\.brain\.language\b/python -m appliance.brain.understanding.language_bench/g
s/appliance\.brain\.streaming\b/appliance.brain.dialogue.streaming/g
s/from appliance\.brain import streaming$/from appliance.brain.dialogue import streaming/
s#appliance/brain/streaming\.py#appliance/brain/dialogue/streaming.py#g
s/see brain\.engine\._public_awaiting/see brain.dialogue.brain._public_awaiting/
s/^\( *\)from appliance\.brain import language, verbalize$/\1from appliance.brain.text import verbalize\n\1from appliance.brain.understanding import language/
s/appliance\.brain\.engine\b/appliance.brain.dialogue.brain/g
s/appliance\.brain\.dialogue\b\([^.]\|$\)/appliance.brain.dialogue.policy\1/g
s/appliance\.brain\.flows\b/appliance.brain.dialogue.flows/g
s/appliance\.brain\.answers\b/appliance.brain.dialogue.answers/g
s/appliance\.brain\.language\b/appliance.brain.understanding.language/g
s/appliance\.brain\.extract\b/appliance.brain.understanding.extract/g
s/appliance\.brain\.understand\b/appliance.brain.understanding.proposal/g
s/appliance\.brain\.safety\b/appliance.brain.understanding.safety/g
s/appliance\.brain\.render\b/appliance.brain.text.render/g
s/appliance\.brain\.verbalize\b/appliance.brain.text.verbalize/g
s/appliance\.brain\.knowledge\b/appliance.store.knowledge/g
s/appliance\.brain\.persist\b/appliance.store.conversations/g
s/appliance\.tools\.http_backend\b/appliance.booking.http/g
s/appliance\.tools\.serialize\b/appliance.booking.serialize/g
s#appliance/brain/engine\.py#appliance/brain/dialogue/brain.py#g
s#appliance/brain/dialogue\.py#appliance/brain/dialogue/policy.py#g
s#appliance/brain/flows\.py#appliance/brain/dialogue/flows.py#g
s#appliance/brain/answers\.py#appliance/brain/dialogue/answers.py#g
s#appliance/brain/language\.py#appliance/brain/understanding/language.py#g
s#appliance/brain/extract/#appliance/brain/understanding/extract/#g
s#appliance/brain/understand\.py#appliance/brain/understanding/proposal.py#g
s#appliance/brain/safety\.py#appliance/brain/understanding/safety.py#g
s#appliance/brain/prompts/#appliance/brain/understanding/prompts/#g
s#appliance/brain/render\.py#appliance/brain/text/render.py#g
s#appliance/brain/verbalize\.py#appliance/brain/text/verbalize/#g
s#appliance/brain/templates/#appliance/brain/text/templates/#g
s#appliance/brain/knowledge\.py#appliance/store/knowledge.py#g
s#appliance/brain/persist\.py#appliance/store/conversations.py#g
s#appliance/tools/http_backend\.py#appliance/booking/http.py#g
s#appliance/tools/serialize\.py#appliance/booking/serialize.py#g
s/from appliance\.brain import safety$/from appliance.brain.understanding import safety/
s/from appliance\.brain import verbalize as vb$/from appliance.brain.text import verbalize as vb/
s/appliance\.brain\.dialogue\.Dialogue\b/appliance.brain.dialogue.policy.Dialogue/g
s/appliance\.brain\.dialogue\.brain\.Engine\b/appliance.brain.dialogue.brain.Brain/g
s/``Engine``/``Brain``/g
s/`Engine\.\(greet\|on_slow\|record_timeline\|handle\)/`Brain.\1/g
s/\bEngineStatus\b/BrainStatus/g
s/\bEngineStatusView\b/BrainStatusView/g
s/\bChatEngine\b/ChatBrain/g
s/\(self\.\|live_server\.\|convo\.\|c\.\|\b\)brain\.engine\b/\1brain/g
s/live_server\.brain\.db\b/live_server.brain.resources.db/g
s/from appliance\.booking\.types import CallbackTicket$/from appliance.core.tickets import CallbackTicket/
s/^from appliance.booking.types import BookingBackend, CallbackTicket$/from appliance.booking.types import BookingBackend\nfrom appliance.core.tickets import CallbackTicket/
s/\bb\.engine\.greet\b/b.greet/g
