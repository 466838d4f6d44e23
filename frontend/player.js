// Play / pause through the frames of a movie: about 5 frames/s, stopping at the last frame.

const FRAME_INTERVAL_MS = 200; // 5 frames/s, the speed of the archive's GIF preview

export class Player {
  /**
   * @param button the Play/Pause button (its text says what pressing it does)
   * @param show async (page) => void, shows a frame and resolves when it is drawn
   * @param current () => the page shown now; count () => the number of pages
   */
  constructor(button, { show, current, count, onChange = () => {} }) {
    Object.assign(this, { button, show, current, count, onChange });
    this.playing = false;
    this.run = 0;
    button.addEventListener("click", () => this.toggle());
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play();
  }

  /** Play from the frame shown; from the first frame when the last one is shown. */
  async play() {
    if (this.playing || this.count() < 2) return;
    this.setPlaying(true);
    const run = ++this.run;
    for (let next = this.current() >= this.count() - 1 ? 0 : this.current() + 1; next < this.count(); next++) {
      const started = performance.now();
      await this.show(next);
      if (this.run !== run) return; // paused meanwhile
      if (this.current() !== next) break; // the frame could not be shown (its error is in the viewer)
      const wait = FRAME_INTERVAL_MS - (performance.now() - started);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (this.run !== run) return;
    }
    this.setPlaying(false);
  }

  pause() {
    this.run++;
    this.setPlaying(false);
  }

  setPlaying(playing) {
    this.playing = playing;
    this.button.textContent = playing ? "Pause" : "Play";
    this.button.dataset.playing = String(playing);
    this.onChange(playing);
  }
}
