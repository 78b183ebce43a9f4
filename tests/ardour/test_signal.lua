ardour {
	["type"]    = "dsp",
	name        = "Danna-Sep Test Signal",
	category    = "Utility",
	license     = "ISC",
	author      = "Danna-Sep RT tests",
	description = [[Stereo test song for tests/ardour.rs: a kick and a noise snare, a bass line and
a vibrato voice, from the first processed sample on. The test reads the bounced audio back,
so the signal needs no seed or timeline position.]]
}

function dsp_ioconfig ()
	return { { audio_in = 2, audio_out = 2 } }
end

local rate = 48000
local t = 0        -- samples generated so far
local rng = 12345  -- snare noise, a 31-bit LCG

function dsp_init (sample_rate)
	rate = sample_rate
end

local function noise ()
	rng = (rng * 1103515245 + 12345) % 2147483648
	return rng / 1073741824 - 1
end

local bass_notes = { 55.0, 55.0, 73.42, 65.41 }
local voice_notes = { 220.0, 246.94, 293.66, 261.63, 329.63, 293.66, 246.94, 220.0 }

function dsp_run (ins, outs, n_samples)
	local l = outs[1]:array ()
	local r = outs[2]:array ()
	local beat = rate / 2 -- 120 bpm
	for i = 1, n_samples do
		local s = t / rate
		local in_beat = (t % beat) / rate
		local b = math.floor (t / beat)
		-- kick on every beat: a falling sine with a fast decay
		local kick = 0.5 * math.exp (-in_beat * 18) * math.sin (2 * math.pi * (45 * in_beat + 60 * (1 - math.exp (-in_beat * 25)) / 25))
		-- snare on beats 2 and 4: decaying noise
		local snare = 0
		if b % 2 == 1 then
			snare = 0.25 * math.exp (-in_beat * 30) * noise ()
		end
		-- bass: one note per two beats, three harmonics
		local f = bass_notes[(math.floor (b / 2) % #bass_notes) + 1]
		local bass = 0.18 * (math.sin (2 * math.pi * f * s) + 0.4 * math.sin (4 * math.pi * f * s) + 0.2 * math.sin (6 * math.pi * f * s))
		-- voice: one note per beat, vibrato, five harmonics, slightly right
		local v = voice_notes[(b % #voice_notes) + 1]
		local phase = 2 * math.pi * (v * s + 0.02 * v * math.sin (2 * math.pi * 5.5 * s) / (2 * math.pi * 5.5))
		local voice = 0
		for h = 1, 5 do
			voice = voice + math.sin (h * phase) / (h * h)
		end
		voice = 0.15 * voice * math.min (1, in_beat * 40)
		l[i] = kick + 0.9 * snare + bass + 0.8 * voice
		r[i] = kick + snare + 0.9 * bass + voice
		t = t + 1
	end
end
