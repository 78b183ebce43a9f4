-- Builds the session tests/ardour.rs exports, driven by ardour7-lua (headless, dummy backend).
--
-- Environment (set by the test):
--   DS_SESSION_DIR, DS_SESSION_NAME  where to create the session (the folder must not exist);
--   DS_RATE, DS_SECONDS              session rate and length of the test signal;
--   DS_PLUGIN                        the VST3 to insert on the track by name, or empty for none;
--   DS_PARAMS                        "Name=value;Name=value" control values to set on it.
--
-- The test signal comes from the Lua DSP generator test_signal.lua (on Ardour's script path),
-- bounced into a region on the strict-I/O stereo track "Signal", after which the generator is
-- removed; the plugin goes first on that track. Prints
-- "LATENCY <samples>" (the plugin's latency as Ardour reads it) and "SIGNAL <path>" for each
-- channel's source file of the region, for the test to read back.

local function env (name)
	local v = os.getenv (name)
	assert (v, name .. " is not set")
	return v
end

local dir = env ("DS_SESSION_DIR")
local name = env ("DS_SESSION_NAME")
local rate = math.tointeger (tonumber (env ("DS_RATE")))
local length = math.tointeger (tonumber (env ("DS_SECONDS")) * rate)
local plugin_name = env ("DS_PLUGIN")
local params = os.getenv ("DS_PARAMS") or ""

AudioEngine:set_backend ("None (Dummy)", "", "")
local s = create_session (dir, name, rate)
assert (s, "create_session failed")

local track = s:new_audio_track (2, 2, nil, 1, "Signal", ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true):front ()
assert (not track:isnil (), "new_audio_track failed")
-- Strict I/O, as Ardour's editor makes new tracks: the track keeps its two channels and the
-- plugin's aux outputs stay unconnected. (Without it the track grows to the plugin's ten
-- outputs, and Ardour 7.3 then exports silence for any such processor, Lua ones included.)
track:set_strict_io (true)

local gen = ARDOUR.LuaAPI.new_luaproc (s, "Danna-Sep Test Signal")
assert (not gen:isnil (), "test_signal.lua not found on the script path")
assert (track:add_processor_by_index (gen, 0, nil, true) == 0, "adding the generator failed")
local region = track:bounce_range (0, length, ARDOUR.InterThreadInfo (), gen, true, "signal")
assert (not region:isnil (), "bounce failed")
track:remove_processor (gen, nil, true)
-- No fades, so that the exported dry signal is the signal itself, sample for sample.
region:to_audioregion ():set_fade_in_active (false)
region:to_audioregion ():set_fade_out_active (false)
-- Inside an "insert region" operation, as Ardour's editor does, so that the session range
-- follows the region.
s:begin_reversible_command ("insert region")
track:playlist ():add_region (region, Temporal.timepos_t (0), 1, false)
s:abort_reversible_command ()
local range = s:locations ():session_range_location ()
assert (range and range:start ():samples () == 0 and range:_end ():samples () == length, "session range")

local ar = region:to_audioregion ()
for c = 0, ar:n_channels () - 1 do
	print ("SIGNAL " .. ar:source (c):to_filesource ():path ())
end

if plugin_name ~= "" then
	local proc = ARDOUR.LuaAPI.new_plugin (s, plugin_name, ARDOUR.PluginType.VST3, "")
	assert (not proc:isnil (), "plugin " .. plugin_name .. " not found")
	assert (track:add_processor_by_index (proc, 0, nil, true) == 0, "inserting the plugin failed")
	local plug = proc:to_insert ():plugin (0)
	for pair in string.gmatch (params, "[^;]+") do
		local key, value = string.match (pair, "^(.-)=(.*)$")
		local found = false
		local ctrl = 0
		for i = 0, plug:parameter_count () - 1 do
			if plug:parameter_is_input (i) then
				if plug:parameter_label (i) == key then
					assert (ARDOUR.LuaAPI.set_processor_param (proc, ctrl, tonumber (value)), "setting " .. key)
					found = true
				end
				ctrl = ctrl + 1
			end
		end
		assert (found, "no parameter " .. key)
	end
	-- Parameter changes reach the plugin through the process thread: wait for them, so that
	-- the state saved below has them.
	ARDOUR.LuaAPI.wait_for_process_callback (8, 5000)
end

assert (s:save_state ("", false, false, false, false, false) == 0, "save failed")
close_session ()

if plugin_name ~= "" then
	-- The latency the export will compensate: the plugin's once the saved session is loaded,
	-- as ardour7-export loads it.
	s = load_session (dir, name)
	assert (s, "load_session failed")
	print ("LATENCY " .. s:route_by_name ("Signal"):nth_plugin (0):signal_latency ())
	close_session ()
end
