"""Before/after spectrogram of the Karaoke choice on the real example song and its vocal-band
energy: `python scripts/karaoke-spectrogram.py STEMS_DIR OUT.png`, STEMS_DIR holding the
`audio_example_{drums,bass,other,vocals}.wav` of `danna-sep separate --model karaoke`
(the stems null, so their sum is the mixture)."""
import numpy as np, scipy.io.wavfile as wf, scipy.signal as sg, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import sys
d=sys.argv[1].rstrip("/")+"/audio_example_"
st={k: wf.read(d+k+".wav")[1].astype(np.float64) for k in ("drums","bass","other","vocals")}
mix=sum(st.values()); acc=st["drums"]+st["bass"]+st["other"]; voc=st["vocals"]
sr=44100
def spec(x):
    f,t,Z=sg.stft(x.mean(axis=1), sr, nperseg=4096, noverlap=3072)
    return f,t,20*np.log10(np.abs(Z)+1e-7)
def band(x, lo=300, hi=3400):
    f,t,Z=sg.stft(x.mean(axis=1), sr, nperseg=4096, noverlap=3072)
    m=(f>=lo)&(f<=hi); return float((np.abs(Z[m])**2).sum())
eb=band(mix); ea=band(acc); ev=band(voc)
print(f"vocal band 300-3400 Hz energy: accompaniment {10*np.log10(ea/eb):.1f} dB, vocals {10*np.log10(ev/eb):.1f} dB relative to the mixture")
print(f"whole-band: accompaniment {10*np.log10((acc**2).sum()/(mix**2).sum()):.1f} dB, vocals {10*np.log10((voc**2).sum()/(mix**2).sum()):.1f} dB")
fig,ax=plt.subplots(3,1,figsize=(10,9),sharex=True)
for a,(name,x) in zip(ax,[("mixture",mix),("karaoke output: accompaniment (drums + bass + other)",acc),("vocals stem (Spleeter 2stems)",voc)]):
    f,t,S=spec(x); top=S.max()
    a.pcolormesh(t,f/1000,S,vmin=top-80,vmax=top,shading="auto",cmap="magma")
    a.set_ylim(0,8); a.set_ylabel("kHz"); a.set_title(name)
ax[-1].set_xlabel("s")
fig.suptitle('"Slow Motion Dream" (Steven M Bryant ft. CSoul, Alex Beroza & Robert Siekawitch, CC BY 3.0), danna-sep --model karaoke')
fig.tight_layout(); fig.savefig(sys.argv[2], dpi=80)
