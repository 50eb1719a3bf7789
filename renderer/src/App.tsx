/** The app shell; the probe picker, flash panel, consoles and timeline arrive with the app issue. */
export function App() {
  return (
    <main style={{ fontFamily: 'system-ui, sans-serif', padding: 24 }}>
      <h1>Dapdeck</h1>
      <p>Flash microcontroller boards over CMSIS-DAP and watch them run.</p>
    </main>
  );
}
