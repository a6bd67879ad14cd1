import { render } from 'preact'
import { App } from './app.tsx'
import './console.css'

const root = document.getElementById('app')
if (root === null) throw new Error('the console page has no #app element')
render(<App />, root)
